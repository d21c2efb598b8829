"""The live collector daemon (trio). Only `pbx.protocol` may be imported by the console."""
