"""The one error the converters raise: a message for the user, naming the file, the
tensor or the config key, and what was expected."""


class ConvertError(Exception):
    pass
