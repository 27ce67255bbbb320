"""CAD OSE: the Contextual Anomaly Detector, Open Source Edition (M. Smirnov, 2016), ported faithfully.

The NAB competition entry `contextOSE` (NAB v1.1 scoreboard: 69.9 standard, 67.0 reward_low_FP,
73.2 reward_low_FN over the 58-file corpus), from nab/detectors/context_ose/cad_ose.py,
context_operator.py and context_ose_detector.py (NAB @ ea702d75; upstream
github.com/smirmik/CAD). The port is optimised (dictionary and numpy look-ups instead of the
original's rescan of every semi-context per step); its outputs equal, bit for bit, those of a
line-by-line transcription of the original classes run under CPython 2.7.18 (all 69,561 points
of NAB's realKnownCause files and a synthetic series; tests/analytics/detectors/test_cadose.py
holds the synthetic golden run).

What is reproduced, with the original names and constants:
- Quantisation (`getAnomalyScore`): `normInpVal = int((value - minValue) / minValueStep)` with
  `minValueStep = (maxValue - minValue) / (2**numNormValueBits - 1)` (the range is replaced by
  `2**bits - 1` when max == min); the integer's binary string `bin(n).lstrip("0b")
  .rjust(numNormValueBits, "0")`, read from the least significant character, gives the facts
  `2·position + bit`. `numNormValueBits` = 3. Values outside [min, max] keep the original's
  string rule (longer or "-0b..." strings give other facts); NAB never feeds them.
- Contexts (`ContextOperator`): a context is a (left semi-context, right semi-context) pair of
  fact tuples. Each step the zero-level context (previous left facts group, current sensor facts)
  is looked up or created (`getContextByFacts(..., zerolevel=1)`); the right semi-contexts are
  crossed with the current facts; every left semi-context crossed at the previous step and fully
  matched "selects" its contexts, and a selected context whose right part is fully matched is
  active (its activation count grows). When the zero-level context is new, partially matched
  pairs of zero-level contexts (left overlap <= `maxLeftSemiContextsLenght` = 7) become
  potential new contexts, stored at the next left crossing. The left facts group of the next
  step is the sensor facts plus `2**31 + id` of the `maxActiveNeuronsNum` = 15 active contexts
  ranked by (activation count, hash of left facts, hash of right facts).
- Score: `(1 - selected-and-active / selected + new contexts / unique potential contexts) / 2`
  (each ratio 0 when its denominator is 0).
- Rest period: the score is reported only while every one of the last `int(restPeriod)` raw
  scores (history seeded with 1.0) is below `baseThreshold` = 0.75, else 0; NAB's wrapper sets
  `restPeriod = probationaryPeriod / 5` and `minValue`/`maxValue` to the file's value range
  (`inputMin`/`inputMax`, which NAB's runner gives every detector).
- Python 2.7 details that decide which active contexts become neurons: ties in activation count
  are broken by CPython 2's 64-bit tuple hash (re-implemented in `_py2_tuple_hash`), and the
  order in which new contexts get their ids follows CPython 2's dict iteration order over a
  left semi-context's {right id: context id} (re-implemented in `_py2_dict_order`). A Python 3
  run of the original code breaks those ties differently.
- Quirk kept: the original's "no new context this step" marker is `False`, which compares equal
  to context id 0, so context 0 is skipped in the activation pass on such steps.

Deviations (none affects in-range input):
- NaN/None and ±inf are missing values (score 0, state unchanged); the original would raise on
  ±inf. `rest_period` must be >= 1 (the original with `int(restPeriod) == 0` returns 0 forever)
  and `max_active_neurons` >= 1 (with 0 the original's `[-0:]` slice keeps every active context).
- Semi-contexts are keyed by their fact tuples, the original by the tuples' hashes: they differ
  only on a 64-bit hash collision.

Uncertainties:
- The source was transcribed from memory of the published files (no copy or per-row contextOSE
  output of NAB is available here), so the transcription and this port share any recall error.
  Points we are least sure of: the score being the mean of (1 - active share) and the new-context
  share (rather than 1 - active share alone); the rest-period history holding the raw scores (not
  the reported ones); `restPeriod` = probationaryPeriod / 5 with no lower bound; potential
  contexts being stored before (not after) the left crossing of the same step.
- The hash and dict-order rules assume a 64-bit CPython 2.7 build for NAB's published run.
  Numbers parsed by pandas' fast float parser can differ from Python's float() in the last
  bit, which can move a value that lies exactly on a quantisation boundary.

Speed: about 1.1-1.5·10⁴ points/s on one core (CPU time; benchmarks/detector_speed.py), against
about 1.5·10³ for the original under CPython 2.7; far from the 10⁵ of the rank detector.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ifactory.analytics.detectors.univariate import _StepDetector

_MASK64 = (1 << 64) - 1
_NEURON_BASE = 2**31  # cad_ose.py: currNeurFacts = 2 ** 31 + context id


def _py2_tuple_hash(items: tuple[int, ...]) -> int:
    """CPython 2.7's tuplehash on a 64-bit build, for a tuple of non-negative ints (hash(i) == i)."""
    x = 0x345678
    mult = 1000003
    remaining = len(items)
    for y in items:
        remaining -= 1
        x = ((x ^ y) * mult) & _MASK64
        mult += 82520 + remaining + remaining
    x = (x + 97531) & _MASK64
    if x >= 1 << 63:
        x -= 1 << 64
    return -2 if x == -1 else x


def _py2_dict_order(keys: list[int]) -> list[int]:
    """The iteration order CPython 2.7 gives a dict into which these int keys were inserted in order.

    Open addressing with `i = 5i + perturb + 1; perturb >>= 5`, 8 slots to start, resized to the
    smallest power of two above 4·used once the table is two-thirds full (dictobject.c).
    """
    table: list[int] = [-1] * 8

    def place(tbl: list[int], key: int) -> None:
        mask = len(tbl) - 1
        i = key & mask
        perturb = key
        while tbl[i & mask] >= 0:
            i = (i << 2) + i + perturb + 1
            perturb >>= 5
        tbl[i & mask] = key

    for used, key in enumerate(keys, start=1):
        place(table, key)
        if used * 3 >= len(table) * 2:
            size = 8
            while size <= 4 * used:
                size <<= 1
            old, table = table, [-1] * size
            for k in old:
                if k >= 0:
                    place(table, k)
    return [k for k in table if k >= 0]


def _sensor_facts(level: int, bits: int) -> tuple[int, ...]:
    """cad_ose.getAnomalyScore: the facts of a quantised value, from its binary string."""
    text = bin(level).lstrip("0b").rjust(bits, "0")
    facts = {n * 2 + (1 if ch == "1" else 0) for n, ch in enumerate(reversed(text))}
    return tuple(sorted(facts))


class ContextOseDetector(_StepDetector):
    """CAD OSE (NAB `contextOSE`): share of predicted contexts that did not occur, plus novelty; [0, 1].

    >>> d = ContextOseDetector(min_value=0.0, max_value=7.0, rest_period=5)
    >>> scores = d.score_learn_many([float(i % 4) for i in range(200)] + [7.0])
    >>> float(scores[-2]) < 0.5 < float(scores[-1])
    True
    """

    name = "cadose"

    def __init__(
        self,
        min_value: float,
        max_value: float,
        base_threshold: float = 0.75,
        rest_period: float = 30,
        max_left_semi_contexts_length: int = 7,
        max_active_neurons: int = 15,
        num_norm_value_bits: int = 3,
    ) -> None:
        if not (math.isfinite(min_value) and math.isfinite(max_value)) or max_value < min_value:
            raise ValueError("min_value and max_value must be finite with min_value <= max_value")
        if int(rest_period) < 1:
            raise ValueError("rest_period must be >= 1")
        if max_active_neurons < 1 or max_left_semi_contexts_length < 0:
            raise ValueError(
                "max_active_neurons must be >= 1 and max_left_semi_contexts_length >= 0"
            )
        if num_norm_value_bits < 1:
            raise ValueError("num_norm_value_bits must be >= 1")
        self.min_value = min_value
        self.max_value = max_value
        self.base_threshold = base_threshold
        self.rest_period = rest_period
        self.max_left_semi_contexts_length = max_left_semi_contexts_length
        self.max_active_neurons = max_active_neurons
        self.num_norm_value_bits = num_norm_value_bits
        max_bin = 2.0**num_norm_value_bits - 1.0
        full_range = float(max_value) - float(min_value)
        if full_range == 0.0:
            full_range = max_bin
        self._value_step = full_range / max_bin
        self._rest = int(rest_period)
        self._sensor_cache: dict[int, tuple[int, ...]] = {}
        self._reset()

    def _reset(self) -> None:
        # Left semi-contexts (ContextOperator.semiContValLists[0]), by id.
        self._left_index: dict[tuple[int, ...], int] = {}
        self._left_facts: list[tuple[int, ...]] = []
        self._left_hash: list[int] = []
        self._left_contexts: list[dict[int, int]] = []  # right id -> context id
        self._left_inserted: list[list[int]] = []  # right ids in insertion order
        self._left_items: list[list[tuple[int, int]]] = []  # (right id, context id), py2 order
        self._left_zero_items: list[list[tuple[int, int]]] = []  # the zero-level ones of those
        self._left_rids: list[np.ndarray] = []  # the items' right ids and context ids as arrays
        self._left_cids: list[np.ndarray] = []
        # The crossing runs in numpy: per fact the ids of the left semi-contexts holding it, and
        # per id its length and whether it holds a zero-level context (growable buffers).
        self._left_by_fact: dict[int, list[Any]] = {}  # fact -> [id buffer, used length]
        self._left_len = np.zeros(64, dtype=np.int64)
        self._left_size: list[int] = []  # the same lengths as a list, for the Python loops
        self._left_has_zero = np.zeros(64, dtype=bool)
        # Right semi-contexts (semiContValLists[1]).
        self._right_index: dict[tuple[int, ...], int] = {}
        self._right_facts: list[tuple[int, ...]] = []
        self._right_hash: list[int] = []
        self._right_len: list[int] = []
        self._right_by_fact: dict[int, list[int]] = {}
        # Contexts (contextsValuesList): activation count, zero-level flag, its two semi-contexts.
        self._n_ctx = 0
        self._counts = np.zeros(256, dtype=np.int64)  # activation counts (growable)
        self._ctx_zero: list[bool] = []
        self._ctx_left: list[int] = []
        self._ctx_right: list[int] = []
        self._ctx_tie: list[tuple[int, int]] = []  # (left hash, right hash): the sort's tie-break
        self._left_group: tuple[int, ...] = ()  # leftFactsGroup
        # The left crossing of the previous step: fully matched ids, and (id, overlap) of every
        # crossed id that can matter (fully matched, or overlap <= maxLeftSemiContextsLenght).
        self._crossed_full: list[int] = []
        self._crossed: list[tuple[int, int]] = []
        # resultValuesHistory, seeded with 1.0: raw scores since the last one >= baseThreshold.
        self._quiet = 0

    # --- memory (ContextOperator.getContextByFacts) --------------------------------------

    def _left_id(self, facts: tuple[int, ...]) -> int:
        lid = self._left_index.get(facts)
        if lid is None:
            lid = len(self._left_facts)
            self._left_index[facts] = lid
            self._left_facts.append(facts)
            self._left_hash.append(_py2_tuple_hash(facts))
            self._left_contexts.append({})
            self._left_inserted.append([])
            self._left_items.append([])
            self._left_zero_items.append([])
            self._left_rids.append(np.zeros(0, dtype=np.int64))
            self._left_cids.append(np.zeros(0, dtype=np.int64))
            if lid == len(self._left_len):
                self._left_len = np.concatenate([self._left_len, np.zeros_like(self._left_len)])
                self._left_has_zero = np.concatenate(
                    [self._left_has_zero, np.zeros_like(self._left_has_zero)]
                )
            self._left_len[lid] = len(facts)
            self._left_size.append(len(facts))
            for fact in facts:
                posting = self._left_by_fact.get(fact)
                if posting is None:
                    posting = self._left_by_fact[fact] = [np.zeros(16, dtype=np.int64), 0]
                buf, used = posting
                if used == len(buf):
                    buf = posting[0] = np.concatenate([buf, np.zeros_like(buf)])
                buf[used] = lid
                posting[1] = used + 1
        return lid

    def _right_id(self, facts: tuple[int, ...]) -> int:
        rid = self._right_index.get(facts)
        if rid is None:
            rid = len(self._right_facts)
            self._right_index[facts] = rid
            self._right_facts.append(facts)
            self._right_hash.append(_py2_tuple_hash(facts))
            self._right_len.append(len(facts))
            for fact in facts:
                self._right_by_fact.setdefault(fact, []).append(rid)
        return rid

    def _context(self, left: tuple[int, ...], right: tuple[int, ...], zero: bool) -> bool:
        """Find or store the context (left, right); True when it is new."""
        lid = self._left_id(left)
        rid = self._right_id(right)
        contexts = self._left_contexts[lid]
        cid = contexts.get(rid)
        if cid is not None:
            if zero and not self._ctx_zero[cid]:
                self._ctx_zero[cid] = True
                self._refresh_zero(lid)
            return False
        cid = self._n_ctx
        contexts[rid] = cid
        self._n_ctx = cid + 1
        if cid == len(self._counts):
            self._counts = np.concatenate([self._counts, np.zeros_like(self._counts)])
        self._ctx_zero.append(zero)
        self._ctx_left.append(lid)
        self._ctx_right.append(rid)
        self._ctx_tie.append((self._left_hash[lid], self._right_hash[rid]))
        inserted = self._left_inserted[lid]
        inserted.append(rid)
        self._set_items(lid, _py2_dict_order(inserted))
        if zero:
            self._refresh_zero(lid)
        return True

    def _set_items(self, lid: int, order: list[int]) -> None:
        contexts = self._left_contexts[lid]
        self._left_items[lid] = [(r, contexts[r]) for r in order]
        self._left_rids[lid] = np.asarray(order, dtype=np.int64)
        self._left_cids[lid] = np.asarray([contexts[r] for r in order], dtype=np.int64)

    def _refresh_zero(self, lid: int) -> None:
        zero = self._ctx_zero
        self._left_zero_items[lid] = [(r, c) for r, c in self._left_items[lid] if zero[c]]
        self._left_has_zero[lid] = bool(self._left_zero_items[lid])

    def _exists(self, left: tuple[int, ...], right: tuple[int, ...]) -> bool:
        lid = self._left_index.get(left)
        rid = self._right_index.get(right)
        return lid is not None and rid is not None and rid in self._left_contexts[lid]

    # --- one step (ContextualAnomalyDetectorOSE.step + getAnomalyScore) -------------------

    def _sensors(self, v: float) -> tuple[int, ...]:
        level = int((v - self.min_value) / self._value_step)
        facts = self._sensor_cache.get(level)
        if facts is None:
            facts = _sensor_facts(level, self.num_norm_value_bits)
            if len(self._sensor_cache) < 4096:
                self._sensor_cache[level] = facts
        return facts

    def _step(self, v: float, learn: bool) -> float:
        if math.isinf(v):
            return 0.0
        sens = self._sensors(v)
        group = self._left_group
        # The zero-level context (previous left facts group, current facts).
        new_flag = False
        skip = 0  # newContextID: False when nothing is new, and False == 0 in the `!=` test
        if group:
            new_flag = not self._exists(group, sens)
            if new_flag:
                skip = self._n_ctx
            if learn:
                self._context(group, sens, zero=True)
        # Cross the right semi-contexts with the current facts: 0 no fact, 1 some, 2 all of them.
        right_hits = [0] * len(self._right_facts)
        by_fact = self._right_by_fact
        for fact in sens:
            for rid in by_fact.get(fact, ()):
                right_hits[rid] += 1
        state = [
            0 if h == 0 else 2 if h == n else 1
            for h, n in zip(right_hits, self._right_len, strict=True)
        ]
        # updateContextsAndGetActive over the left semi-contexts crossed at the previous step.
        items = self._left_items
        selected = 0
        potentials: list[tuple[int, int]] = []
        if not new_flag:
            # No potential contexts on this path: only the selected and active counts, in numpy.
            full = self._crossed_full
            if full:
                rids = np.concatenate([self._left_rids[lid] for lid in full])
                cids = np.concatenate([self._left_cids[lid] for lid in full])
                not_zero = cids != 0  # context 0 is skipped (newContextID False == 0)
                selected = int(np.count_nonzero(not_zero))
                active = cids[(np.asarray(state)[rids] == 2) & not_zero]
            else:
                active = np.zeros(0, dtype=np.int64)
        else:
            found: list[int] = []
            # Partially matched left semi-contexts only propose their zero-level contexts; the
            # crossing kept just those with one and an overlap <= maxLeftSemiContextsLenght.
            ctx_zero = self._ctx_zero
            max_left = self.max_left_semi_contexts_length
            left_len = self._left_size
            zero_items = self._left_zero_items
            for lid, overlap in self._crossed:
                if overlap != left_len[lid]:
                    for rid, cid in zero_items[lid]:
                        if cid != skip and state[rid]:
                            potentials.append((lid, rid))
                    continue
                for rid, cid in items[lid]:
                    if cid == skip:
                        continue
                    selected += 1
                    st = state[rid]
                    if st == 2:
                        found.append(cid)
                    elif st and ctx_zero[cid] and overlap <= max_left:
                        potentials.append((lid, rid))
            active = np.asarray(found, dtype=np.int64)
        # The potential new contexts as fact tuples (the crossing's matched facts, in order).
        pairs: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        if potentials:
            group_set = set(group)
            sens_set = set(sens)
            left_match: dict[int, tuple[int, ...]] = {}
            right_match: dict[int, tuple[int, ...]] = {}
            for lid, rid in potentials:
                left = left_match.get(lid)
                if left is None:
                    left = left_match[lid] = tuple(
                        f for f in self._left_facts[lid] if f in group_set
                    )
                right = right_match.get(rid)
                if right is None:
                    right = right_match[rid] = tuple(
                        f for f in self._right_facts[rid] if f in sens_set
                    )
                pairs.append((left, right))
        unique = set(pairs)
        if group:
            unique.add((group, sens))
        share_active = len(active) / selected if selected else 0.0
        if learn:
            neurons = self._neurons(active)
            new_group = sens + tuple(_NEURON_BASE + cid for cid in neurons)
            added = 0
            for left, right in pairs:
                if self._context(left, right, zero=False):
                    added += 1
            self._cross_left(new_group)
            self._left_group = new_group
        else:
            added = len({p for p in unique if p != (group, sens) and not self._exists(*p)})
        if new_flag:
            added += 1
        share_added = added / len(unique) if unique else 0.0
        raw = (1.0 - share_active + share_added) / 2.0
        score = raw if self._quiet >= self._rest else 0.0
        if learn:
            self._quiet = 0 if raw >= self.base_threshold else min(self._quiet + 1, self._rest)
        return score

    def _neurons(self, active: np.ndarray) -> list[int]:
        """Count the activations; the ids of the top `max_active_neurons` by (count, hashes), sorted."""
        counts = self._counts
        counts[active] += 1  # a context is active at most once per step
        top = self.max_active_neurons
        if len(active) <= top:
            return sorted(active.tolist())
        # sorted(..., key=(count, left hash, right hash))[-maxActNeurons:] in cad_ose.py. The keys
        # are unique (one context per semi-context pair), so it is enough to rank the contexts
        # whose count reaches the top-th largest count.
        now = counts[active]
        floor = np.partition(now, len(now) - top)[len(now) - top]
        keep = now >= floor
        tie = self._ctx_tie
        ranked = sorted(
            zip(
                now[keep].tolist(),
                [tie[c] for c in active[keep].tolist()],
                active[keep].tolist(),
                strict=True,
            )
        )
        return sorted(c for _, _, c in ranked[-top:])

    def _cross_left(self, group: tuple[int, ...]) -> None:
        """contextCrosser(leftOrRight=0): overlap of every left semi-context with the new group.

        Only what the next step can use is kept, in id order: fully matched semi-contexts, and
        partially matched ones with a zero-level context and an overlap <= maxLeftSemiContextsLenght.
        """
        n = len(self._left_facts)
        postings = [p[0][: p[1]] for f in group if (p := self._left_by_fact.get(f)) is not None]
        if not postings:
            self._crossed, self._crossed_full = [], []
            return
        hits = np.bincount(np.concatenate(postings), minlength=n)
        full = hits == self._left_len[:n]
        keep = full | (
            (hits > 0) & (hits <= self.max_left_semi_contexts_length) & self._left_has_zero[:n]
        )
        ids = np.flatnonzero(keep)
        self._crossed = list(zip(ids.tolist(), hits[ids].tolist(), strict=True))
        self._crossed_full = np.flatnonzero(full).tolist()

    # --- checkpoint ----------------------------------------------------------------------

    def _get_state(self) -> dict[str, Any]:
        return {
            "left_facts": [list(f) for f in self._left_facts],
            "left_inserted": [list(r) for r in self._left_inserted],
            "right_facts": [list(f) for f in self._right_facts],
            "context_left": list(self._ctx_left),
            "context_right": list(self._ctx_right),
            "context_count": self._counts[: self._n_ctx].tolist(),
            "context_zero": [bool(z) for z in self._ctx_zero],
            "left_group": list(self._left_group),
            "crossed": [[lid, overlap] for lid, overlap in self._crossed],
            "quiet": self._quiet,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self._reset()
        for facts in state["right_facts"]:
            self._right_id(tuple(int(f) for f in facts))
        for facts in state["left_facts"]:
            self._left_id(tuple(int(f) for f in facts))
        lefts = [int(x) for x in state["context_left"]]
        rights = [int(x) for x in state["context_right"]]
        counts = [int(x) for x in state["context_count"]]
        zeros = [bool(x) for x in state["context_zero"]]
        if not len(lefts) == len(rights) == len(counts) == len(zeros):
            raise ValueError("checkpoint context lists differ in length")
        if len(self._left_facts) != len(state["left_inserted"]):
            raise ValueError("checkpoint left semi-context lists differ in length")
        if any(not 0 <= lid < len(self._left_facts) for lid in lefts) or any(
            not 0 <= rid < len(self._right_facts) for rid in rights
        ):
            raise ValueError("checkpoint context refers to an unknown semi-context")
        if any(c < 0 for c in counts):
            raise ValueError("checkpoint activation counts must be >= 0")
        self._ctx_left, self._ctx_right, self._ctx_zero = lefts, rights, zeros
        self._n_ctx = len(counts)
        self._counts = np.zeros(max(256, 2 * len(counts)), dtype=np.int64)
        self._counts[: len(counts)] = counts
        for cid, (lid, rid) in enumerate(zip(lefts, rights, strict=True)):
            if rid in self._left_contexts[lid]:
                raise ValueError("checkpoint holds the same context twice")
            self._left_contexts[lid][rid] = cid
            self._ctx_tie.append((self._left_hash[lid], self._right_hash[rid]))
        for lid, inserted in enumerate(state["left_inserted"]):
            order = [int(r) for r in inserted]
            contexts = self._left_contexts[lid]
            if sorted(order) != sorted(contexts):
                raise ValueError("checkpoint insertion order does not match the contexts")
            self._left_inserted[lid] = order
            self._set_items(lid, _py2_dict_order(order))
            self._refresh_zero(lid)
        self._left_group = tuple(int(f) for f in state["left_group"])
        self._crossed = [(int(lid), int(overlap)) for lid, overlap in state["crossed"]]
        if any(not 0 <= lid < len(self._left_facts) for lid, _ in self._crossed):
            raise ValueError("checkpoint crossing refers to an unknown semi-context")
        self._crossed_full = [
            lid for lid, overlap in self._crossed if overlap == len(self._left_facts[lid])
        ]
        self._quiet = int(state["quiet"])
