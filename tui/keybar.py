"""The key bar at the foot of every screen: Textual's Footer, compact below 100 columns.

Why: at 80 columns the roomy footer cut its last keys (`? Help` became `? Hel`, and the French labels are longer);
the compact style drops the padding around each key, as htop's one-line bar does, so every key an operator needs
stays readable on the smallest terminal.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Footer

NARROW = 100  # columns below which the keys are packed


class KeyBar(Footer):
    def on_resize(self, event: events.Resize) -> None:
        self.compact = event.size.width < NARROW
