"""The error every data check raises: its message names the file, the row or column, and the rule."""


class DataSourceError(ValueError):
    pass
