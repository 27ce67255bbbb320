"""Maintenance routes: assets, installations, catalogue, work orders and their execution (thin).

Who may do what: reading needs a viewer; operators raise work requests; technicians, planners
and managers keep assets and book work; the lifecycle's own role rules (lifecycle.py) decide
each state change.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from ifactory.api.auth import Actor, CurrentUser, require_roles
from ifactory.api.deps import PlatformDep, SessionDep
from ifactory.auth.principal import Principal
from ifactory.core.events import Event
from ifactory.maintenance import assets, catalog, execution, lifecycle, service
from ifactory.maintenance.events import WorkOrderCreated, WorkOrderStateChanged
from ifactory.maintenance.lifecycle import WorkOrderState
from ifactory.maintenance.models import WorkOrder
from ifactory.maintenance.schemas import (
    AssetCreate,
    AssetPage,
    AssetRead,
    AssetSparePartRead,
    AssetUpdate,
    AssignmentCreate,
    AssignmentRead,
    BoardRead,
    CostRead,
    CraftCreate,
    CraftRead,
    CraftUpdate,
    DocumentCreate,
    DocumentRead,
    DowntimeLink,
    DowntimeRead,
    FailureCodeCreate,
    FailureCodeRead,
    FailureCodeUpdate,
    FailureKind,
    InstallationCreate,
    InstallationPage,
    InstallationRead,
    LabourCreate,
    LabourRead,
    LotoConfirm,
    LotoStepCreate,
    LotoStepRead,
    PartIssue,
    PartReserve,
    PartReturn,
    RemovalCreate,
    ReservationRead,
    SparePartSet,
    TaskCreate,
    TaskRead,
    TaskResultCreate,
    TransitionCreate,
    TransitionRead,
    WorkOrderCreate,
    WorkOrderDetail,
    WorkOrderPage,
    WorkOrderPartRead,
    WorkOrderRead,
    WorkOrderUpdate,
    WorkRequestCreate,
)
from ifactory.maintenance.service import WorkOrderFilter

router = APIRouter(prefix="/api/maintenance", tags=["maintenance"])
MaintenanceUser = Annotated[Principal, Depends(require_roles("technician", "planner", "manager"))]
PlannerUser = Annotated[Principal, Depends(require_roles("planner", "manager"))]
TechnicianUser = Annotated[Principal, Depends(require_roles("technician", "manager"))]
RequestUser = Annotated[
    Principal,
    Depends(require_roles("operator", "technician", "planner", "quality", "manager")),
]
Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=500)]


def read_model(wo: WorkOrder) -> WorkOrderRead:
    """A work order with the states it may move to next."""
    out = WorkOrderRead.model_validate(wo)
    out.allowed_transitions = [s.value for s in lifecycle.allowed(WorkOrderState(wo.state))]
    return out


# --- assets -----------------------------------------------------------------------------------


@router.get("/assets", response_model=AssetPage)
def read_assets(
    session: SessionDep,
    _: Actor,
    machine_id: int | None = None,
    kind: str | None = None,
    criticality: str | None = None,
    status: str | None = None,
    q: str | None = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> AssetPage:
    """Serialised assets, filtered by machine, kind, criticality, status or text."""
    rows, total = assets.get_all_assets(
        session,
        machine_id=machine_id,
        kind=kind,
        criticality=criticality,
        status=status,
        search=q,
        offset=offset,
        limit=limit,
    )
    items = [AssetRead.model_validate(a) for a in rows]
    return AssetPage(items=items, total=total, offset=offset, limit=limit)


@router.post("/assets", response_model=AssetRead, status_code=201)
def create_asset(body: AssetCreate, session: SessionDep, user: MaintenanceUser) -> AssetRead:
    """Register a serialised asset with its manufacturer data."""
    return AssetRead.model_validate(
        assets.create_asset(session, fields=body.model_dump(), actor=user)
    )


@router.get("/assets/{asset_id}", response_model=AssetRead)
def read_asset(asset_id: int, session: SessionDep, _: Actor) -> AssetRead:
    """One asset."""
    return AssetRead.model_validate(assets.get_asset(session, asset_id=asset_id))


@router.patch("/assets/{asset_id}", response_model=AssetRead)
def update_asset(
    asset_id: int, body: AssetUpdate, session: SessionDep, user: MaintenanceUser
) -> AssetRead:
    """Change an asset's data."""
    asset = assets.get_asset(session, asset_id=asset_id)
    changes = body.model_dump(exclude_unset=True)
    return AssetRead.model_validate(
        assets.update_asset(session, asset=asset, changes=changes, actor=user)
    )


@router.delete("/assets/{asset_id}", status_code=204)
def delete_asset(asset_id: int, session: SessionDep, user: MaintenanceUser) -> Response:
    """Delete an asset registered in error (one with history is scrapped instead)."""
    assets.delete_asset(session, asset=assets.get_asset(session, asset_id=asset_id), actor=user)
    return Response(status_code=204)


@router.post("/assets/{asset_id}/install", response_model=InstallationRead, status_code=201)
def install_asset(
    asset_id: int, body: InstallationCreate, session: SessionDep, user: MaintenanceUser
) -> InstallationRead:
    """Install the asset in a machine (moving it, or replacing the one at that position)."""
    asset = assets.get_asset(session, asset_id=asset_id)
    inst = assets.install(
        session,
        asset=asset,
        machine_id=body.machine_id,
        actor=user,
        position=body.position,
        note=body.note,
        at_us=body.at_us,
        work_order_id=body.work_order_id,
        replace=body.replace,
    )
    return InstallationRead.model_validate(inst)


@router.post("/assets/{asset_id}/remove", response_model=InstallationRead)
def remove_asset(
    asset_id: int, body: RemovalCreate, session: SessionDep, user: MaintenanceUser
) -> InstallationRead:
    """Take the asset out of its machine."""
    asset = assets.get_asset(session, asset_id=asset_id)
    inst = assets.remove(
        session, asset=asset, actor=user, note=body.note, at_us=body.at_us, status=body.status
    )
    return InstallationRead.model_validate(inst)


@router.get("/installations", response_model=InstallationPage)
def read_installations(
    session: SessionDep,
    _: Actor,
    asset_id: int | None = None,
    machine_id: int | None = None,
    open_only: bool = False,
    offset: Offset = 0,
    limit: Limit = 100,
) -> InstallationPage:
    """Installation history of an asset or a machine, newest first."""
    rows, total = assets.get_installations(
        session,
        asset_id=asset_id,
        machine_id=machine_id,
        open_only=open_only,
        offset=offset,
        limit=limit,
    )
    items = [InstallationRead.model_validate(i) for i in rows]
    return InstallationPage(items=items, total=total, offset=offset, limit=limit)


@router.get("/assets/{asset_id}/documents", response_model=list[DocumentRead])
def read_documents(asset_id: int, session: SessionDep, _: Actor) -> list[DocumentRead]:
    """The asset's documents."""
    assets.get_asset(session, asset_id=asset_id)
    return [
        DocumentRead.model_validate(d) for d in assets.get_documents(session, asset_id=asset_id)
    ]


@router.post("/assets/{asset_id}/documents", response_model=DocumentRead, status_code=201)
def create_document(
    asset_id: int, body: DocumentCreate, session: SessionDep, user: MaintenanceUser
) -> DocumentRead:
    """Link a document (manual, drawing...) to the asset."""
    asset = assets.get_asset(session, asset_id=asset_id)
    doc = assets.add_document(
        session, asset=asset, title=body.title, url=body.url, kind=body.kind, actor=user
    )
    return DocumentRead.model_validate(doc)


@router.delete("/documents/{document_id}", status_code=204)
def delete_document(document_id: int, session: SessionDep, user: MaintenanceUser) -> Response:
    """Remove a document link."""
    assets.delete_document(session, document_id=document_id, actor=user)
    return Response(status_code=204)


def _spare_parts(session: SessionDep, asset_id: int) -> list[AssetSparePartRead]:
    return [
        AssetSparePartRead(
            part_id=p.id,
            part_number=p.part_number,
            name=p.name,
            unit=p.unit,
            quantity=float(a.quantity),
            note=a.note,
        )
        for a, p in assets.get_spare_parts(session, asset_id=asset_id)
    ]


@router.get("/assets/{asset_id}/spare-parts", response_model=list[AssetSparePartRead])
def read_spare_parts(asset_id: int, session: SessionDep, _: Actor) -> list[AssetSparePartRead]:
    """The asset's spare-parts list."""
    assets.get_asset(session, asset_id=asset_id)
    return _spare_parts(session, asset_id)


@router.put("/assets/{asset_id}/spare-parts", response_model=list[AssetSparePartRead])
def set_spare_part(
    asset_id: int, body: SparePartSet, session: SessionDep, user: MaintenanceUser
) -> list[AssetSparePartRead]:
    """Put a part on the asset's spare-parts list (or change its quantity)."""
    asset = assets.get_asset(session, asset_id=asset_id)
    assets.set_spare_part(
        session,
        asset=asset,
        part_id=body.part_id,
        quantity=body.quantity,
        note=body.note,
        actor=user,
    )
    return _spare_parts(session, asset_id)


@router.delete("/assets/{asset_id}/spare-parts/{part_id}", status_code=204)
def delete_spare_part(
    asset_id: int, part_id: int, session: SessionDep, user: MaintenanceUser
) -> Response:
    """Take a part off the asset's spare-parts list."""
    asset = assets.get_asset(session, asset_id=asset_id)
    assets.delete_spare_part(session, asset=asset, part_id=part_id, actor=user)
    return Response(status_code=204)


# --- catalogue --------------------------------------------------------------------------------


@router.get("/crafts", response_model=list[CraftRead])
def read_crafts(session: SessionDep, _: Actor) -> list[CraftRead]:
    """Crafts with their hourly rates."""
    return [CraftRead.model_validate(c) for c in catalog.get_crafts(session)]


@router.post("/crafts", response_model=CraftRead, status_code=201)
def create_craft(body: CraftCreate, session: SessionDep, user: PlannerUser) -> CraftRead:
    """Add a craft."""
    return CraftRead.model_validate(catalog.create_craft(session, **body.model_dump(), actor=user))


@router.patch("/crafts/{code}", response_model=CraftRead)
def update_craft(code: str, body: CraftUpdate, session: SessionDep, user: PlannerUser) -> CraftRead:
    """Change a craft's name or hourly rate."""
    craft = catalog.get_craft(session, code=code)
    changes = body.model_dump(exclude_unset=True)
    return CraftRead.model_validate(
        catalog.update_craft(session, craft=craft, changes=changes, actor=user)
    )


@router.get("/failure-codes", response_model=list[FailureCodeRead])
def read_failure_codes(
    session: SessionDep, _: Actor, kind: FailureKind | None = None, active: bool | None = None
) -> list[FailureCodeRead]:
    """The failure code catalogue: problems, causes and remedies."""
    rows = catalog.get_failure_codes(session, kind=kind, active=active)
    return [FailureCodeRead.model_validate(c) for c in rows]


@router.post("/failure-codes", response_model=FailureCodeRead, status_code=201)
def create_failure_code(
    body: FailureCodeCreate, session: SessionDep, user: PlannerUser
) -> FailureCodeRead:
    """Add a problem, cause or remedy code."""
    row = catalog.create_failure_code(session, **body.model_dump(), actor=user)
    return FailureCodeRead.model_validate(row)


@router.patch("/failure-codes/{code_id}", response_model=FailureCodeRead)
def update_failure_code(
    code_id: int, body: FailureCodeUpdate, session: SessionDep, user: PlannerUser
) -> FailureCodeRead:
    """Rename, describe or retire a failure code."""
    row = catalog.get_failure_code(session, code_id=code_id)
    changes = body.model_dump(exclude_unset=True)
    return FailureCodeRead.model_validate(
        catalog.update_failure_code(session, failure_code=row, changes=changes, actor=user)
    )


# --- work orders ------------------------------------------------------------------------------


@router.get("/work-orders", response_model=WorkOrderPage)
def read_work_orders(
    session: SessionDep,
    _: Actor,
    state: Annotated[list[str] | None, Query()] = None,
    type: Annotated[list[str] | None, Query()] = None,
    machine_id: int | None = None,
    asset_id: int | None = None,
    priority: str | None = None,
    assigned_to: str | None = None,
    requested_by: str | None = None,
    pm_plan_id: int | None = None,
    open_only: bool = False,
    q: str | None = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> WorkOrderPage:
    """Work orders, newest first, filtered by state, type, machine, asset, people, plan or text."""
    f = WorkOrderFilter(
        states=state,
        types=type,
        machine_id=machine_id,
        asset_id=asset_id,
        priority=priority,
        assigned_to=assigned_to,
        requested_by=requested_by,
        pm_plan_id=pm_plan_id,
        open_only=open_only,
        search=q,
    )
    rows, total = service.get_all(session, filters=f, offset=offset, limit=limit)
    return WorkOrderPage(
        items=[read_model(w) for w in rows], total=total, offset=offset, limit=limit
    )


@router.get("/board", response_model=BoardRead)
def read_board(
    session: SessionDep,
    _: Actor,
    machine_id: int | None = None,
    type: Annotated[list[str] | None, Query()] = None,
    per_column: Annotated[int, Query(ge=1, le=500)] = 100,
) -> BoardRead:
    """Work orders by state (the board's columns), most recent first in each column."""
    base = WorkOrderFilter(machine_id=machine_id, types=type)
    columns = {}
    for state in WorkOrderState:
        f = WorkOrderFilter(machine_id=machine_id, types=type, states=[state.value])
        rows, _total = service.get_all(session, filters=f, limit=per_column)
        columns[state.value] = [read_model(w) for w in rows]
    return BoardRead(columns=columns, counts=service.counts_by_state(session, filters=base))


@router.post("/work-orders", response_model=WorkOrderRead, status_code=201)
def create_work_order(
    body: WorkOrderCreate, session: SessionDep, platform: PlatformDep, user: MaintenanceUser
) -> WorkOrderRead:
    """Create a work order (with a source key, creating it twice returns the first one)."""
    wo = service.create_work_order(
        session,
        machine_id=body.machine_id,
        type=body.type.value,
        title=body.title,
        description=body.description,
        priority=body.priority.value,
        actor=user,
        asset_id=body.asset_id,
        due_us=body.due_us,
        source_key=body.source_key,
        evidence=body.evidence,
        state=body.state,
        now_us=platform.clock.now_us(),
        craft_code=body.craft_code,
        estimated_hours=body.estimated_hours,
        scheduled_start_us=body.scheduled_start_us,
        scheduled_end_us=body.scheduled_end_us,
    )
    platform.relay.notify()
    return read_model(wo)


@router.post("/work-requests", response_model=WorkOrderRead, status_code=201)
def create_work_request(
    body: WorkRequestCreate, session: SessionDep, platform: PlatformDep, user: RequestUser
) -> WorkOrderRead:
    """An operator reports a problem: a corrective work order in the requested state.

    Reported while the machine is down, the stop going on is linked to it (or the one named).
    """
    now = platform.clock.now_us()
    wo = service.create_work_order(
        session,
        machine_id=body.machine_id,
        type="corrective",
        title=body.title,
        description=body.description,
        priority=body.priority.value,
        actor=user,
        asset_id=body.asset_id,
        state="requested",
        now_us=now,
    )
    if body.downtime_id is not None:
        execution.link_downtime(session, work_order=wo, downtime_id=body.downtime_id, actor=user)
    elif (down := execution.current_breakdown(session, machine_id=body.machine_id)) is not None:
        # Reported while the machine is down: the request is about this stop.
        execution.link_downtime(session, work_order=wo, downtime_id=down.id, actor=user)
    platform.relay.notify()
    return read_model(wo)


@router.get("/work-orders/{work_order_id}", response_model=WorkOrderDetail)
def read_work_order(
    work_order_id: int, session: SessionDep, platform: PlatformDep, _: Actor
) -> WorkOrderDetail:
    """One work order with its cost, downtime, checklist progress and technicians."""
    wo = service.get_work_order(session, work_order_id=work_order_id)
    summary = execution.summary(session, work_order=wo, now_us=platform.clock.now_us())
    people = [a.username for a in execution.get_assignments(session, work_order_id=wo.id)]
    return WorkOrderDetail(
        **read_model(wo).model_dump(), summary=CostRead(**summary), assignees=people
    )


@router.patch("/work-orders/{work_order_id}", response_model=WorkOrderRead)
def update_work_order(
    work_order_id: int, body: WorkOrderUpdate, session: SessionDep, user: MaintenanceUser
) -> WorkOrderRead:
    """Change planning fields, failure codes or the resolution."""
    wo = service.get_work_order(session, work_order_id=work_order_id)
    changes = body.model_dump(exclude_unset=True, mode="json")
    return read_model(
        service.update_work_order(session, work_order=wo, changes=changes, actor=user)
    )


@router.get("/work-orders/{work_order_id}/cost", response_model=CostRead)
def read_cost(work_order_id: int, session: SessionDep, platform: PlatformDep, _: Actor) -> CostRead:
    """Cost of the work order: Σ labour hours × rate + Σ parts quantity × unit cost."""
    wo = service.get_work_order(session, work_order_id=work_order_id)
    return CostRead(**execution.summary(session, work_order=wo, now_us=platform.clock.now_us()))


@router.get("/work-orders/{work_order_id}/transitions", response_model=list[TransitionRead])
def read_transitions(work_order_id: int, session: SessionDep, _: Actor) -> list[TransitionRead]:
    """Who moved the work order between states, and when."""
    service.get_work_order(session, work_order_id=work_order_id)
    rows = service.get_transitions(session, work_order_id=work_order_id)
    return [TransitionRead.model_validate(t) for t in rows]


@router.post(
    "/work-orders/{work_order_id}/transitions", response_model=WorkOrderRead, status_code=201
)
def create_transition(
    work_order_id: int,
    body: TransitionCreate,
    session: SessionDep,
    platform: PlatformDep,
    user: CurrentUser,
) -> WorkOrderRead:
    """Move the work order to another state (the lifecycle's role rules and gates apply)."""
    wo = service.transition(
        session,
        work_order_id=work_order_id,
        to=body.state.value,
        actor=user,
        roles={r.value for r in user.roles},
        now_us=platform.clock.now_us(),
        comment=body.comment,
        scheduled_start_us=body.scheduled_start_us,
        scheduled_end_us=body.scheduled_end_us,
    )
    platform.relay.notify()
    return read_model(wo)


# --- checklist --------------------------------------------------------------------------------


@router.get("/work-orders/{work_order_id}/tasks", response_model=list[TaskRead])
def read_tasks(work_order_id: int, session: SessionDep, _: Actor) -> list[TaskRead]:
    """The checklist."""
    service.get_work_order(session, work_order_id=work_order_id)
    rows = execution.get_tasks(session, work_order_id=work_order_id)
    return [TaskRead.model_validate(t) for t in rows]


@router.post("/work-orders/{work_order_id}/tasks", response_model=TaskRead, status_code=201)
def create_task(
    work_order_id: int, body: TaskCreate, session: SessionDep, user: MaintenanceUser
) -> TaskRead:
    """Add a checklist item."""
    wo = service.get_work_order(session, work_order_id=work_order_id)
    task = execution.add_task(session, work_order=wo, actor=user, **body.model_dump())
    return TaskRead.model_validate(task)


@router.delete("/tasks/{task_id}", status_code=204)
def delete_task(task_id: int, session: SessionDep, user: MaintenanceUser) -> Response:
    """Remove a checklist item without a result."""
    execution.delete_task(session, task=execution.get_task(session, task_id=task_id), actor=user)
    return Response(status_code=204)


@router.post("/tasks/{task_id}/result", response_model=TaskRead)
def record_task_result(
    task_id: int,
    body: TaskResultCreate,
    session: SessionDep,
    platform: PlatformDep,
    user: TechnicianUser,
) -> TaskRead:
    """Record a checklist result; a failed item with `follow_up` raises a follow-up work order."""
    task = execution.get_task(session, task_id=task_id)
    task = execution.record_result(
        session,
        task=task,
        actor=user,
        result=body.result,
        value=body.value,
        note=body.note,
        now_us=platform.clock.now_us(),
        follow_up=body.follow_up,
        follow_up_title=body.follow_up_title,
    )
    platform.relay.notify()
    return TaskRead.model_validate(task)


@router.post("/tasks/{task_id}/follow-up", response_model=WorkOrderRead, status_code=201)
def create_follow_up(
    task_id: int, session: SessionDep, platform: PlatformDep, user: MaintenanceUser
) -> WorkOrderRead:
    """Raise the follow-up work order of a failed checklist item (once per item)."""
    task = execution.get_task(session, task_id=task_id)
    wo = execution.raise_follow_up(session, task=task, actor=user, now_us=platform.clock.now_us())
    platform.relay.notify()
    return read_model(wo)


# --- lockout / tagout -------------------------------------------------------------------------


@router.get("/work-orders/{work_order_id}/loto", response_model=list[LotoStepRead])
def read_loto(work_order_id: int, session: SessionDep, _: Actor) -> list[LotoStepRead]:
    """The lockout/tagout steps and who confirmed (and released) each, when."""
    service.get_work_order(session, work_order_id=work_order_id)
    rows = execution.get_loto_steps(session, work_order_id=work_order_id)
    return [LotoStepRead.model_validate(s) for s in rows]


@router.post("/work-orders/{work_order_id}/loto", response_model=LotoStepRead, status_code=201)
def create_loto_step(
    work_order_id: int, body: LotoStepCreate, session: SessionDep, user: MaintenanceUser
) -> LotoStepRead:
    """Add an isolation step (before work starts)."""
    wo = service.get_work_order(session, work_order_id=work_order_id)
    step = execution.add_loto_step(session, work_order=wo, actor=user, **body.model_dump())
    return LotoStepRead.model_validate(step)


@router.delete("/loto/{step_id}", status_code=204)
def delete_loto_step(step_id: int, session: SessionDep, user: MaintenanceUser) -> Response:
    """Remove an isolation step planned in error (before work starts)."""
    step = execution.get_loto_step(session, step_id=step_id)
    execution.delete_loto_step(session, step=step, actor=user)
    return Response(status_code=204)


@router.post("/loto/{step_id}/confirm", response_model=LotoStepRead)
def confirm_loto_step(
    step_id: int,
    body: LotoConfirm,
    session: SessionDep,
    platform: PlatformDep,
    user: TechnicianUser,
) -> LotoStepRead:
    """Confirm the energy source is isolated and locked."""
    step = execution.get_loto_step(session, step_id=step_id)
    step = execution.confirm_loto_step(
        session, step=step, actor=user, lock_number=body.lock_number, now_us=platform.clock.now_us()
    )
    return LotoStepRead.model_validate(step)


@router.post("/loto/{step_id}/release", response_model=LotoStepRead)
def release_loto_step(
    step_id: int, session: SessionDep, platform: PlatformDep, user: TechnicianUser
) -> LotoStepRead:
    """Record that the lock was removed after the work."""
    step = execution.get_loto_step(session, step_id=step_id)
    step = execution.release_loto_step(
        session, step=step, actor=user, now_us=platform.clock.now_us()
    )
    return LotoStepRead.model_validate(step)


# --- technicians and labour -------------------------------------------------------------------


@router.get("/work-orders/{work_order_id}/assignments", response_model=list[AssignmentRead])
def read_assignments(work_order_id: int, session: SessionDep, _: Actor) -> list[AssignmentRead]:
    """Technicians assigned to the work order."""
    service.get_work_order(session, work_order_id=work_order_id)
    rows = execution.get_assignments(session, work_order_id=work_order_id)
    return [AssignmentRead.model_validate(a) for a in rows]


@router.post(
    "/work-orders/{work_order_id}/assignments", response_model=AssignmentRead, status_code=201
)
def create_assignment(
    work_order_id: int,
    body: AssignmentCreate,
    session: SessionDep,
    platform: PlatformDep,
    user: PlannerUser,
) -> AssignmentRead:
    """Assign a technician (in a craft)."""
    wo = service.get_work_order(session, work_order_id=work_order_id)
    row = execution.assign(
        session,
        work_order=wo,
        username=body.username,
        craft_code=body.craft_code,
        actor=user,
        now_us=platform.clock.now_us(),
    )
    return AssignmentRead.model_validate(row)


@router.delete("/work-orders/{work_order_id}/assignments/{username}", status_code=204)
def delete_assignment(
    work_order_id: int, username: str, session: SessionDep, user: PlannerUser
) -> Response:
    """Take a technician off the work order."""
    wo = service.get_work_order(session, work_order_id=work_order_id)
    execution.unassign(session, work_order=wo, username=username, actor=user)
    return Response(status_code=204)


@router.get("/work-orders/{work_order_id}/labour", response_model=list[LabourRead])
def read_labour(work_order_id: int, session: SessionDep, _: Actor) -> list[LabourRead]:
    """Labour booked on the work order."""
    service.get_work_order(session, work_order_id=work_order_id)
    rows = execution.get_labour(session, work_order_id=work_order_id)
    return [LabourRead.model_validate(e) for e in rows]


@router.post("/work-orders/{work_order_id}/labour", response_model=LabourRead, status_code=201)
def create_labour(
    work_order_id: int,
    body: LabourCreate,
    session: SessionDep,
    platform: PlatformDep,
    user: MaintenanceUser,
) -> LabourRead:
    """Book a technician's hours (rate: given, else the craft's)."""
    wo = service.get_work_order(session, work_order_id=work_order_id)
    entry = execution.add_labour(
        session, work_order=wo, actor=user, now_us=platform.clock.now_us(), **body.model_dump()
    )
    return LabourRead.model_validate(entry)


@router.delete("/labour/{entry_id}", status_code=204)
def delete_labour(entry_id: int, session: SessionDep, user: MaintenanceUser) -> Response:
    """Remove a labour entry booked in error."""
    execution.delete_labour(session, entry_id=entry_id, actor=user)
    return Response(status_code=204)


# --- parts ------------------------------------------------------------------------------------


@router.get("/work-orders/{work_order_id}/parts", response_model=list[WorkOrderPartRead])
def read_parts(work_order_id: int, session: SessionDep, _: Actor) -> list[WorkOrderPartRead]:
    """Parts issued to (and returned from) the work order."""
    service.get_work_order(session, work_order_id=work_order_id)
    rows = execution.get_parts(session, work_order_id=work_order_id)
    return [WorkOrderPartRead.model_validate(p) for p in rows]


@router.post(
    "/work-orders/{work_order_id}/parts", response_model=WorkOrderPartRead, status_code=201
)
def issue_part(
    work_order_id: int,
    body: PartIssue,
    session: SessionDep,
    platform: PlatformDep,
    user: MaintenanceUser,
) -> WorkOrderPartRead:
    """Issue parts from stock to the work order (409 when the stock is not there)."""
    wo = service.get_work_order(session, work_order_id=work_order_id)
    row = execution.issue_part(
        session, work_order=wo, actor=user, now_us=platform.clock.now_us(), **body.model_dump()
    )
    platform.relay.notify()
    return WorkOrderPartRead.model_validate(row)


@router.post(
    "/work-orders/{work_order_id}/parts/return",
    response_model=WorkOrderPartRead,
    status_code=201,
)
def return_part(
    work_order_id: int,
    body: PartReturn,
    session: SessionDep,
    platform: PlatformDep,
    user: MaintenanceUser,
) -> WorkOrderPartRead:
    """Return unused parts to stock (credited to the work order)."""
    wo = service.get_work_order(session, work_order_id=work_order_id)
    row = execution.return_part(
        session, work_order=wo, actor=user, now_us=platform.clock.now_us(), **body.model_dump()
    )
    return WorkOrderPartRead.model_validate(row)


@router.get("/work-orders/{work_order_id}/reservations", response_model=list[ReservationRead])
def read_reservations(work_order_id: int, session: SessionDep, _: Actor) -> list[ReservationRead]:
    """Parts reserved in stock for the work order."""
    service.get_work_order(session, work_order_id=work_order_id)
    rows = execution.get_reservations(session, work_order_id=work_order_id)
    return [ReservationRead.model_validate(r) for r in rows]


@router.post(
    "/work-orders/{work_order_id}/reservations",
    response_model=ReservationRead,
    status_code=201,
)
def create_reservation(
    work_order_id: int,
    body: PartReserve,
    session: SessionDep,
    platform: PlatformDep,
    user: PlannerUser,
) -> ReservationRead:
    """Reserve parts for the work (409 when not enough is available)."""
    wo = service.get_work_order(session, work_order_id=work_order_id)
    row = execution.reserve_part(session, work_order=wo, actor=user, **body.model_dump())
    platform.relay.notify()
    return ReservationRead.model_validate(row)


# --- downtime ---------------------------------------------------------------------------------


@router.get("/work-orders/{work_order_id}/downtime", response_model=list[DowntimeRead])
def read_downtime(work_order_id: int, session: SessionDep, _: Actor) -> list[DowntimeRead]:
    """The machine's recorded downtime this work order concerns."""
    service.get_work_order(session, work_order_id=work_order_id)
    rows = execution.get_downtime(session, work_order_id=work_order_id)
    return [DowntimeRead.model_validate(d) for d in rows]


@router.post("/work-orders/{work_order_id}/downtime", response_model=DowntimeRead, status_code=201)
def create_downtime_link(
    work_order_id: int, body: DowntimeLink, session: SessionDep, user: MaintenanceUser
) -> DowntimeRead:
    """Link a recorded downtime event of the machine to the work order."""
    wo = service.get_work_order(session, work_order_id=work_order_id)
    event = execution.link_downtime(
        session, work_order=wo, downtime_id=body.downtime_id, actor=user
    )
    return DowntimeRead.model_validate(event)


@router.delete("/work-orders/{work_order_id}/downtime/{downtime_id}", status_code=204)
def delete_downtime_link(
    work_order_id: int, downtime_id: int, session: SessionDep, user: MaintenanceUser
) -> Response:
    """Remove a downtime link made in error."""
    wo = service.get_work_order(session, work_order_id=work_order_id)
    execution.unlink_downtime(session, work_order=wo, downtime_id=downtime_id, actor=user)
    return Response(status_code=204)


# --- live updates -----------------------------------------------------------------------------

LIVE_EVENTS = (WorkOrderCreated.type, WorkOrderStateChanged.type)


def _sse(event: str, data: object) -> str:
    from ifactory.core.jsonutil import dumps

    return f"event: {event}\ndata: {dumps(data)}\n\n"


def _put(queue: asyncio.Queue[Event], event: Event) -> None:
    if not queue.full():
        queue.put_nowait(event)


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "work order changes"}},
)
async def work_order_events(
    request: Request, platform: PlatformDep, _: Actor, machine_id: int | None = None
) -> StreamingResponse:
    """Work orders created or moved, as server-sent events named `workorder` (for the board)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=1000)

    def on_event(event: Event) -> None:
        if machine_id is None or getattr(event, "machine_id", None) == machine_id:
            loop.call_soon_threadsafe(_put, queue, event)

    unsubscribers = [platform.bus.subscribe(t, on_event) for t in LIVE_EVENTS]

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            yield _sse("clock", {"now_us": platform.clock.now_us()})
            while not await request.is_disconnected():
                try:
                    ev = await asyncio.wait_for(queue.get(), 5.0)
                except TimeoutError:
                    yield _sse("clock", {"now_us": platform.clock.now_us()})
                    continue
                yield _sse("workorder", {"type": ev.type, **ev.model_dump(mode="json")})
        finally:
            for unsubscribe in unsubscribers:
                unsubscribe()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
