"""Local servers for the tests and the demo: a real E-utilities server over PubMed XML (`server`), its
scripted faults (`faults`), NCBI-shaped bodies (`responses`), the record corpus (`corpus`) and the query
matcher on the one PubMed term parser (`matching`); `demo_corpus/` holds the bundled demo records."""

from .corpus import Corpus
from .faults import Faults
from .matching import QuerySyntaxError
from .server import ReplayServer, ReplayStats, serve

__all__ = ["Corpus", "Faults", "QuerySyntaxError", "ReplayServer", "ReplayStats", "serve"]
