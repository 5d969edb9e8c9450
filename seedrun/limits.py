"""Every bound seedrun puts on the work an untrusted spec or lockfile can cause.

Specs and lockfiles arrive in pull requests, from forks, and CI runs
``validate``, ``plan`` and ``diff`` on them. Each limit below turns what would
be a hang, a ``MemoryError`` or a ``RecursionError`` into a one-line error with
a location, reached within about a second. docs/limits.md lists them for users;
keep the two in step.

The limits are far above what a real campaign needs (a prompt is a few hundred
characters, a campaign a few thousand jobs), so that no honest spec meets one.
"""

from __future__ import annotations

# ---------------------------------------------------------------- files

# Largest spec or lockfile read, in bytes. A 10 MB spec (about 50,000 jobs written
# out one by one; matrices make more from less) loads in a few seconds. A
# 100,000-job lockfile is about 60 MB of JSON request bodies, so lockfiles get
# more room: they are read by a line scanner at JSON speed.
MAX_SPEC_BYTES = 10_000_000
MAX_LOCK_BYTES = 200_000_000
# Deepest nesting of mappings and sequences in a spec or a lockfile (each
# ``{``/``[``/indented block is one level). seedrun's own data is under 10 deep;
# the limit keeps every recursive walk far from Python's recursion limit.
MAX_DEPTH = 64
# Integers in a spec or lockfile fit in 64 bits: a longer one is a typo or an
# attack (a million-digit number takes seconds to print).
MAX_INT_BITS_IN_FILE = 64

# ---------------------------------------------------------------- matrices

# Combinations of one job's matrix (the product of its axes, before exclude,
# plus its include entries), and of all jobs of a spec together.
MAX_COMBINATIONS = 100_000
MAX_JOBS = 100_000
# Combination x (exclude + include entry) comparisons one matrix may need.
MAX_MATRIX_CHECKS = 10_000_000

# ---------------------------------------------------------------- templates

# Characters or items any one template value may have (a string, a list, a
# filter's or a method's result), and characters one rendered field may have.
MAX_SIZE = 100_000
MAX_OUTPUT = 100_000
# Bits of any integer a template computes (10**1000 has 3,322 bits).
MAX_INT_BITS = 100_000
# Largest ``round`` precision and ``tojson`` indent.
MAX_PRECISION = 100
MAX_INDENT = 100
# Units of work one rendering may take: one unit per loop iteration, call,
# filter, operator and attribute lookup (ten per macro call), plus one per ten
# items and per hundred characters of each value used. A unit is about a
# microsecond at most; a typical prompt template takes a handful.
MAX_RENDER_WORK = 250_000
# Units of work all renderings of one spec may take together: a 100,000-job
# matrix with a full template (filters, arithmetic, an `if`) takes about 300,000.
MAX_SPEC_RENDER_WORK = 10_000_000
# Wall-clock backstop for one rendering, and for all renderings of a spec,
# in seconds: the work units above are meant to be reached first. The spec's
# is generous, so that a slow CI machine never fails an honest spec.
MAX_RENDER_SECONDS = 1.0
MAX_SPEC_RENDER_SECONDS = 30.0
