"""normsuite's tasks, a plug-in of suite (listed in ``configs/plugins.yaml``).

Importing this package registers every task (``task=<name>`` -> a `suite.task.Task` subclass) and the
datasets only tasks use, lazily, so running one task does not import the others' libraries.
Add a task: write ``tasks/<name>.py`` with a `Task` subclass, add its line here, and add
``configs/task/<name>.yaml`` (with its ``batch_axis``).
"""
from suite.data import DATASETS
from suite.task import TASKS

TASKS.register_lazy("cls", "tasks.cls:ClassificationTask")
TASKS.register_lazy("nas", "tasks.nas:NasTask")
TASKS.register_lazy("adv", "tasks.adv:AdversarialTask")
TASKS.register_lazy("fsl", "tasks.fsl:FewShotTask")
TASKS.register_lazy("uda", "tasks.uda:DomainAdaptationTask")

# Few-shot benchmarks: episodic class splits only (task=fsl); as plain datasets they are a clear error.
for _name in ("omniglot", "mini_imagenet", "cifarfs", "fc100"):
    DATASETS.register_lazy(_name, "tasks.fewshot.episodic_only:episodic_only")
