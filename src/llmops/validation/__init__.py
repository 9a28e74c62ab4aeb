"""The data-quality gate: Great Expectations suites with severities. Never imports torch."""
