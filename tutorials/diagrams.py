"""Intuition diagrams for chapter 10 (drawn with matplotlib): an unrolled RNN and an LSTM cell."""
import matplotlib.pyplot as plt
from matplotlib.patches import Circle, FancyBboxPatch


def _box(ax, x, y, w, h, text, color="#dbe9f6", fs=9):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02", facecolor=color,
                                edgecolor="k"))
    ax.text(x, y, text, ha="center", va="center", fontsize=fs)


def _arrow(ax, x0, y0, x1, y1, color="k", ls="-", text=None, fs=8, dx=0.0, dy=0.12):
    ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle="->", color=color, ls=ls, lw=1.3))
    if text:
        ax.text((x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy, text, ha="center", fontsize=fs, color=color)


def draw_unrolled_rnn(steps=4):
    """Four steps of an RNN reading rows, the forward arrows black, the gradient's path red."""
    fig, ax = plt.subplots(figsize=(10, 3.4))
    for t in range(steps):
        x = 1.5 + 2.2 * t
        _box(ax, x, 1.5, 1.2, 0.8, "RNN cell\nW_ih, W_hh, b", fs=8)
        _arrow(ax, x, 0.35, x, 1.1)
        ax.text(x, 0.2, f"x_{t + 1} (row {t + 1})", ha="center", va="top", fontsize=8)
        _arrow(ax, x - 2.2 + 0.6 if t else 0.1, 1.5, x - 0.6, 1.5, text=f"h_{t}")
        if t:  # the gradient, flowing back one step
            _arrow(ax, x + 0.5, 0.8, x - 1.6, 0.8, color="tab:red", ls="--",
                   text="x diag(1-h^2) W_hh" if t == steps - 1 else None, dy=-0.3)
    xe = 1.5 + 2.2 * (steps - 1)
    _arrow(ax, xe + 0.6, 1.5, xe + 1.4, 1.5, text=f"h_{steps}")
    _box(ax, xe + 1.9, 1.5, 0.8, 0.6, "Linear\n-> 10", color="#fde0c5", fs=8)
    ax.text(0.1, 2.35, "the same weights at every step; backward (red) multiplies the gradient by one "
            "Jacobian per step", fontsize=9)
    ax.set_xlim(0, xe + 2.5), ax.set_ylim(0, 2.6)
    ax.axis("off")
    plt.show()


def draw_lstm_cell():
    """One LSTM step: the four gates, and the cell state running along the top."""
    fig, ax = plt.subplots(figsize=(9, 4.2))
    ax.plot([0.3, 8.7], [3.4, 3.4], color="tab:orange", lw=3)                # the cell-state line
    ax.text(0.3, 3.55, "c_{t-1}", fontsize=10), ax.text(8.3, 3.55, "c_t", fontsize=10)
    for x, sym in [(3.0, "x"), (5.0, "+")]:
        ax.add_patch(Circle((x, 3.4), 0.22, facecolor="white", edgecolor="k", zorder=3))
        ax.text(x, 3.4, sym, ha="center", va="center", fontsize=11, zorder=4)
    gates = [(2.0, "f: sigma", "forget"), (3.6, "i: sigma", "input"), (4.8, "g: tanh", "candidate"),
             (6.4, "o: sigma", "output")]
    for x, label, what in gates:
        _box(ax, x, 1.4, 0.95, 0.6, f"{label}\n({what})", color="#dbe9f6", fs=8)
    ax.plot([0.3, 7.0], [0.5, 0.5], color="k", lw=1)
    ax.text(0.3, 0.15, "[h_{t-1}, x_t]  ->  W_ih x_t + W_hh h_{t-1} + b, split in four", fontsize=8)
    for x, _, _ in gates:
        _arrow(ax, x, 0.5, x, 1.15)
    _arrow(ax, 2.0, 1.65, 2.85, 3.25, text="f", dx=-0.2, dy=0)                  # f into the product
    ax.add_patch(Circle((4.2, 2.4), 0.2, facecolor="white", edgecolor="k", zorder=3))
    ax.text(4.2, 2.4, "x", ha="center", va="center", fontsize=10, zorder=4)
    _arrow(ax, 3.6, 1.65, 4.05, 2.25)
    _arrow(ax, 4.8, 1.65, 4.35, 2.25)
    _arrow(ax, 4.3, 2.6, 4.9, 3.2, text="i * g", dx=0.45, dy=-0.1)
    _box(ax, 7.2, 2.55, 0.8, 0.4, "tanh", color="#fde0c5", fs=8)
    _arrow(ax, 7.2, 3.35, 7.2, 2.78)
    ax.add_patch(Circle((7.2, 1.8), 0.2, facecolor="white", edgecolor="k", zorder=3))
    ax.text(7.2, 1.8, "x", ha="center", va="center", fontsize=10, zorder=4)
    _arrow(ax, 7.2, 2.33, 7.2, 2.0)
    _arrow(ax, 6.9, 1.45, 7.02, 1.68)
    _arrow(ax, 7.4, 1.8, 8.6, 1.8, text="h_t = o * tanh(c_t)", dx=0.25, dy=-0.35)
    ax.text(0.3, 4.0, "the cell state c only meets a product with f and a sum: "
            "with f near 1, d c_t / d c_{t-1} = f is near 1", fontsize=9)
    ax.set_xlim(0, 9.2), ax.set_ylim(0, 4.3)
    ax.axis("off")
    plt.show()
