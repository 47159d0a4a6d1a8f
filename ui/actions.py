"""Every menu command of the window, in one declarative table.

:data:`MENUS` lists the menus in menu-bar order and, in each, the actions in
menu order: text, slot, shortcuts. :func:`build_menus` turns it into QActions
and menus; the keyboard-shortcut overlay (:mod:`ui.shortcuts`) lists the same
actions in the same order, so a shortcut is written once and shows up
everywhere. A new command is one row here plus its slot on the window.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QWidget

from .views import MODES

__all__ = ["Act", "SEPARATOR", "RECENT", "DOCKS", "MENUS", "build_menus"]

Keys = tuple[QKeySequence.StandardKey | str, ...]


@dataclass(frozen=True)
class Act:
    """One command.

    Attributes:
        name: the window attribute ``{name}_action`` that holds the QAction.
        text: menu text (``&`` marks the mnemonic).
        slot: the window method it triggers, or a dotted path (``workbench.fit``).
        keys: shortcuts; the first is the one shown in the menu.
        args: arguments passed to the slot instead of the ``checked`` flag.
        checkable: a toggle (the slot receives the new state unless ``args``).
        group: exclusive group name (the view modes).
        icon_text: a shorter label for toolbar buttons.
    """

    name: str
    text: str
    slot: str
    keys: Keys = ()
    args: tuple = ()
    checkable: bool = False
    group: str = ""
    icon_text: str = ""


#: Menu entries that are not commands: a separator line, the recent-files submenu, the docks' toggles.
SEPARATOR, RECENT, DOCKS = "separator", "recent", "docks"

MENUS: tuple[tuple[str, tuple[Act | str, ...]], ...] = (
    ("&File", (
        Act("open", "&Open…", "files.open_dialog", (QKeySequence.StandardKey.Open,)),
        Act("open_folder", "Open &folder…", "files.open_folder_dialog", ("Ctrl+Shift+O",)),
        RECENT,
        Act("reference", "Load &reference…", "files.reference_dialog", ("Ctrl+Shift+F",)),
        Act("save", "&Save As…", "files.save_dialog", ("Ctrl+S",)),
        Act("export", "&Export comparison…", "files.export_dialog", ("Ctrl+E",)),
        SEPARATOR,
        Act("quit", "&Quit", "close", (QKeySequence.StandardKey.Quit,)),
    )),
    ("&Edit", (
        Act("copy_metrics", "&Copy metrics table", "copy_metrics", ("Ctrl+Shift+C",)),
    )),
    ("&Run", (
        Act("restore", "&Restore", "runs.restore", ("Ctrl+R",)),
        Act("preview", "&Preview visible crop", "runs.preview_crop", ("Ctrl+P",)),
        Act("queue_all", "Queue all open &images", "runs.queue_all_images", ("Ctrl+Shift+R",)),
        Act("queue_models", "Queue every &model on this image", "runs.queue_all_models", ("Ctrl+Shift+M",)),
        Act("cancel", "&Cancel", "cancel_restore", ("Esc",)),
        Act("clear_queue", "C&lear waiting runs", "runs.queue.clear_pending"),
    )),
    ("&View", (
        *(Act(f"mode_{mode}", text, "set_view_mode", (str(i + 1),), args=(mode,), checkable=True, group="mode")
          for i, (mode, text) in enumerate(MODES.items())),
        SEPARATOR,
        Act("orientation", "Slider &vertical", "set_slider_vertical", ("V",), checkable=True),
        Act("heat", "LPIPS &heat map", "set_heat_visible", ("H",), checkable=True, icon_text="Heat map"),
        Act("next_result", "Next &result", "next_result", ("N",)),
        SEPARATOR,
        Act("fit", "&Fit", "workbench.fit", ("Ctrl+0", "F"), icon_text="Fit"),
        Act("actual", "&1:1", "workbench.actual_size", ("Ctrl+1", "0"), icon_text="1:1"),
        Act("zoom_in", "Zoom &in", "workbench.zoom_in", (QKeySequence.StandardKey.ZoomIn, "+", "="), icon_text="+"),
        Act("zoom_out", "Zoom &out", "workbench.zoom_out", (QKeySequence.StandardKey.ZoomOut, "-"), icon_text="−"),
        SEPARATOR,
        DOCKS,
    )),
    ("&Help", (
        Act("help", "&Keyboard shortcuts", "toggle_help", ("F1", "?")),
    )),
)


def _resolve(window: QWidget, path: str):
    target = window
    for part in path.split("."):
        target = getattr(target, part)
    return target


def build_menus(window: QWidget, bar: QMenuBar, docks: list, menus=MENUS) -> tuple[dict[str, QAction], QMenu]:
    """Create the menus of ``menus`` on ``bar`` and their actions on ``window``.

    Each action is stored as ``window.{name}_action`` and added to the window
    too, so its shortcut works while the menu bar is hidden.

    Args:
        window: owns the actions; slots are looked up on it (dotted paths allowed).
        bar: the menu bar.
        docks: dock widgets whose toggle actions fill the ``DOCKS`` entry.
        menus: the table (default :data:`MENUS`).

    Returns:
        (name -> QAction in table order, the empty recent-files submenu).
    """
    actions: dict[str, QAction] = {}
    groups: dict[str, QActionGroup] = {}
    recent = None
    for title, entries in menus:
        menu = bar.addMenu(title)
        for entry in entries:
            if entry == SEPARATOR:
                menu.addSeparator()
            elif entry == RECENT:
                recent = menu.addMenu("Open &recent")
            elif entry == DOCKS:
                for dock in docks:
                    menu.addAction(dock.toggleViewAction())
            else:
                action = _make_action(window, entry)
                if entry.group:
                    groups.setdefault(entry.group, QActionGroup(window)).addAction(action)
                menu.addAction(action)
                window.addAction(action)
                setattr(window, f"{entry.name}_action", action)
                actions[entry.name] = action
    return actions, recent


def _make_action(window: QWidget, act: Act) -> QAction:
    action = QAction(act.text, window)
    action.setShortcuts([QKeySequence(k) for k in act.keys])
    action.setCheckable(act.checkable)
    if act.icon_text:
        action.setIconText(act.icon_text)
    slot = _resolve(window, act.slot)
    if act.args:
        action.triggered.connect(lambda _=False, args=act.args: slot(*args))
    elif act.checkable:
        action.triggered.connect(slot)
    else:
        action.triggered.connect(lambda _=False: slot())
    return action
