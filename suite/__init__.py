"""normsuite's shared machinery: configuration, CLI, data, engine, logging and results."""
