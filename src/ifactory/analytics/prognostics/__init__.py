"""Failure prediction: remaining useful life per machine from historian features, with alarms."""
