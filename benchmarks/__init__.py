"""Benchmarks of the course: how fast an optimizer step is (``step_speed``) and how long the book takes to run
(``book_time``), plus fast from-scratch optimizers (``fast_optim``) and the ZeRO demo (``zero``).

    python -m benchmarks.step_speed [--quick] [--device cpu|cuda]
    python -m benchmarks.book_time
"""
