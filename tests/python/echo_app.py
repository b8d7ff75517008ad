"""Echo function for awslambdaric: returns the event unchanged."""


def handler(event, context):
    return event
