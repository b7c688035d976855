"""Keyed DataTable updates that keep the cursor where the user left it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey


def selected_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor, if any."""
    if not 0 <= table.cursor_row < table.row_count:
        return None
    return table.ordered_rows[table.cursor_row].key.value


def same_cell(old: Any, new: Any) -> bool:
    """Whether two cells draw the same (rich's Text equality ignores the base style)."""
    if isinstance(old, Text) and isinstance(new, Text):
        return old.plain == new.plain and old.style == new.style and old.spans == new.spans
    return bool(old == new)


def sync_rows(
    table: DataTable[Any], rows: Sequence[tuple[str, Sequence[Any]]], selected: str | None = None
) -> None:
    """Show `(key, cells)` rows: when the keys are the same, only the cells that changed
    are replaced; otherwise the table is rebuilt with the cursor kept on the same key (or
    put on `selected`)."""
    keys = [key for key, _ in rows]
    if keys == [row.key.value for row in table.ordered_rows]:
        columns = [column.key for column in table.ordered_columns]
        for key, cells in rows:
            for column, cell in zip(columns, cells, strict=True):
                update_cell(table, key, column, cell)
        return
    selected = selected or selected_key(table)
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if selected in keys:
        table.move_cursor(row=keys.index(selected))


def update_cell(table: DataTable[Any], row: str, column: ColumnKey | str, cell: Any) -> None:
    """Put `cell` in place unless it draws the same; re-measure the column only when the
    cell's width changed (a narrower cell makes Textual measure the whole column)."""
    old = table.get_cell(row, column)
    if not same_cell(old, cell):
        table.update_cell(row, column, cell, update_width=cell_width(old) != cell_width(cell))


def cell_width(cell: Any) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(str(cell))


Cells = dict[str, Text]  # a row's cells by column key


def columns_width(columns: Sequence[str], rows: Sequence[Cells], padding: int) -> int:
    """The cells a table of these columns takes (headers are the keys in capitals)."""
    return sum(
        max([len(column), *(cell_width(cells[column]) for cells in rows)]) + 2 * padding
        for column in columns
    )


def fitting(
    columns: Sequence[str], optional: Sequence[str], rows: Sequence[Cells], width: int, padding: int
) -> list[str]:
    """`columns` without the `optional` ones, left out in that order, until they fit."""
    shown = list(columns)
    for column in optional:
        if columns_width(shown, rows, padding) <= width:
            break
        shown.remove(column)
    return shown


def set_columns(table: DataTable[Any], columns: Sequence[str]) -> bool:
    """Give the table these columns (keys; headers in capitals), emptying it when they
    change; True when they did."""
    if [column.key.value for column in table.ordered_columns] == list(columns):
        return False
    table.clear(columns=True)
    for column in columns:
        table.add_column(column.upper(), key=column)
    return True
