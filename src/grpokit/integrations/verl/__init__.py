"""grpokit inside verl 0.9 (Ray, FSDP/Megatron, vLLM/SGLang), loaded by verl itself through its plugin entry point.

``import verl`` imports ``grpokit.integrations.verl.plugin`` in every process, which registers (each name once verl
itself imports the module holding its registry, so a plain ``import verl`` stays as fast as without it):

* policy losses ``dgpo``, ``gppo``, ``cegppo`` (``losses``);
* advantage estimators ``proxmo``, ``gigpo`` (``estimators``);
* v1 trainers ``grpokit_agent`` (ProxMO / GiGPO credit) and ``dynamo`` (DynaMO) (``trainer``, hooks in ``dynamo``);
* the agent loop ``grpokit_agent`` for grpokit's environments (``agent_loop``).

Where each setting goes on a verl command line: ``settings`` and docs/verl.md. Nothing here is imported by
``import grpokit``; every module needs verl.
"""

from importlib.util import find_spec

if find_spec("verl") is None:  # verl itself imports this package through its plugin, so verl is usually present
    raise ImportError(
        "grpokit.integrations.verl needs verl 0.9 (`pip install verl==0.9.1`; `make setup` installs it with what its "
        "v1 trainer and agent loop import)"
    )
