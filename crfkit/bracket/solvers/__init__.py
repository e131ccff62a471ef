"""Bracket solvers behind one interface, registered by name.

``SOLVERS`` maps names to classes: ``model`` (self-calibration constrained by
any crfkit model: EMoR, PCA, GGCM, polynomial, gamma), ``debevec`` (Debevec &
Malik 1997), ``robertson`` (Robertson, Borman & Stevenson 2003) and
``mitsunaga-nayar`` (Mitsunaga & Nayar 1999).  A new solver is one new module
defining a :class:`~crfkit.bracket.solvers.base.BracketSolver` subclass
decorated with :func:`register_solver`, or a class exposed through the
``crfkit.bracket_solvers`` entry-point group.
"""

from .base import BracketSolver, SolverResult, get_solver, get_solver_class, register_solver, SOLVERS
from . import debevec, mitsunaga_nayar, model, robertson  # noqa: F401,E402  (registration)

__all__ = ["SOLVERS", "BracketSolver", "SolverResult", "get_solver", "get_solver_class", "register_solver"]
