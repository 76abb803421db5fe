"""The Qt user interface. Talks to :mod:`emomv_desktop.engine` only through workers."""
