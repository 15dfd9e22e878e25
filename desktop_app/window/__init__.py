"""The main window's roles, one module each; MainWindow (desktop_app/main_window.py) mixes
them.

The mixins' methods carry no @Slot: PySide6 (6.11) connects a @Slot-decorated method that is
defined outside the QObject class itself as a direct call, so a signal from a worker thread
(the picture loader's) would run it in that thread. Plain methods are queued to the window.
"""
