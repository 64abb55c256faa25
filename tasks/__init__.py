"""The tasks registry: ``task=<name>`` -> a `suite.task.Task` subclass.

Entries are lazy so that running one task does not import the others' libraries.
Add a task: write ``tasks/<name>.py`` with a `Task` subclass, register it here, and
add ``configs/task/<name>.yaml``.
"""
from suite.registry import Registry

TASKS = Registry("task", "task")
TASKS.register_lazy("cls", "tasks.cls:ClassificationTask")
TASKS.register_lazy("nas", "tasks.nas:NasTask")
TASKS.register_lazy("adv", "tasks.adv:AdversarialTask")
TASKS.register_lazy("fsl", "tasks.fsl:FewShotTask")
TASKS.register_lazy("uda", "tasks.uda:DomainAdaptationTask")


def available() -> list[str]:
    return TASKS.available()


def build(name: str):
    """An instance of the task registered as `name`."""
    return TASKS.get(name)()
