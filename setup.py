"""Build the compiled engine; everything else is declared in pyproject.toml."""

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

# Compiler directives are set once, here, for every .pyx of the project.
DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
    "nonecheck": False,
    "embedsignature": True,
}

extensions = [
    Extension(
        "engine._rate",
        ["engine/_rate.pyx"],
        include_dirs=[numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"],
    ),
    Extension(
        "engine._recon",
        ["engine/_recon.pyx"],
        include_dirs=[numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"],
    ),
    Extension("ingest._slices", ["ingest/_slices.pyx"], extra_compile_args=["-O3"]),
    Extension("ingest._dialplan", ["ingest/_dialplan.pyx"], extra_compile_args=["-O3"]),
    Extension("ingest.cdr._scan", ["ingest/cdr/_scan.pyx"], extra_compile_args=["-O3"]),
    Extension("ingest.cdr._decide", ["ingest/cdr/_decide.pyx"], extra_compile_args=["-O3"]),
    Extension("tariffs._deck", ["tariffs/_deck.pyx"], extra_compile_args=["-O3"]),
    # SQLite through the library Python's _sqlite3 is linked to, found at import: no sqlite3.h, no -lsqlite3
    Extension("store._fast", ["store/_fast.pyx"], extra_compile_args=["-O3"]),
]

setup(ext_modules=cythonize(extensions, compiler_directives=DIRECTIVES))
