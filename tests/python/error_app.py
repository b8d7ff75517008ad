"""Failing function for awslambdaric: every invoke raises ValueError("boom")."""


def handler(event, context):
    raise ValueError("boom")
