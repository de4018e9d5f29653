"""The change pipeline: plan, policy, executor, ledger, post-flight."""
