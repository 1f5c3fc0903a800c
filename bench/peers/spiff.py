"""SpiffWorkflow 3.x: a two-task workflow (suspend, resume) serialized as JSON in the case row.

Each action reads the row with the lock (the same SELECT as the floor, plus the workflow column),
deserializes the workflow, runs the task named by the trigger (after a resume the workflow is
complete, so the next suspension resets it to its suspend task, which keeps the JSON the same
size), serializes it and writes it back with the stage: the floor's four statements.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.serializer.json import JSONSerializer
from SpiffWorkflow.specs.Simple import Simple
from SpiffWorkflow.specs.WorkflowSpec import WorkflowSpec
from SpiffWorkflow.util.task import TaskState
from SpiffWorkflow.workflow import Workflow

from bench.peers import RESUME, SUSPEND, Refused, Seed, cases, moved
from bench.peers.sql import LOCK, CoreFloor

SERIALIZER = JSONSerializer()


def new_workflow() -> str:
    """A fresh workflow, waiting at its manual suspend task, as JSON."""
    spec = WorkflowSpec("fpic-suspension", addstart=True)
    suspend, resume = Simple(spec, SUSPEND), Simple(spec, RESUME)
    suspend.manual = resume.manual = True
    spec.start.connect(suspend)
    suspend.connect(resume)
    workflow = Workflow(spec)
    workflow.run_all()
    return str(workflow.serialize(SERIALIZER))


def advance(stored: str, trigger: str) -> str:
    workflow = Workflow.deserialize(SERIALIZER, stored)
    ready = [t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.name == trigger]
    if not ready and trigger == SUSPEND:
        first = next(t for t in workflow.get_tasks() if t.task_spec.name == SUSPEND)
        workflow.reset_from_task_id(first.id)
        ready = [
            t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.name == SUSPEND
        ]
    if not ready:
        raise Refused(f"the workflow has no ready {trigger} task")
    ready[0].run()
    workflow.run_all()
    return str(workflow.serialize(SERIALIZER))


def _ready(workflow: Workflow, name: str) -> list[Any]:
    return [t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.name == name]


class Spiff(CoreFloor):
    key, label, kind = "spiff", "SpiffWorkflow 3, workflow JSON in the row", "workflow"
    lock = LOCK.add_columns(cases.c.workflow)

    def __init__(self, url: str, seed: Seed) -> None:
        stored = new_workflow()
        for row in seed.cases:
            row["workflow"] = stored
        super().__init__(url, seed)
        self._workflow = stored

    def move(self, row: Any, trigger: str) -> tuple[str, str | None]:
        result = moved(trigger, row.stage, row.suspended_from)
        self._workflow = advance(row.workflow, trigger)
        return result

    def extra_columns(self) -> dict[str, Any]:
        return {"workflow": self._workflow}
