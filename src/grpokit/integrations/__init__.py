"""Thin adapters that run grpokit's algorithms inside existing distributed engines.

* ``grpokit.integrations.trl``: ``GRPOKitTrainer``, TRL's ``GRPOTrainer`` with grpokit's policy losses and DynaMO
  advantage modulation (extra ``trl``);
* ``grpokit.integrations.verl``: the same core functions inside verl on Ray (extra ``verl``).

Imports point one way: an integration imports ``grpokit.core``; nothing in ``grpokit.core``, ``grpokit.train`` or the
CLI imports an integration, so ``import grpokit`` works without verl or TRL installed. This package therefore
imports neither engine itself: import the submodule you need.
"""
