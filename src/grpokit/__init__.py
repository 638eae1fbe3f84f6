"""grpokit: reinforcement learning for LLM policies with DGPO, DynaMO and ProxMO."""

__version__ = "0.1.0"
