"""What a person reads: a run's report.md (report) and its analysis (analysis), the audit's audit.md
(audit_report), the model comparison (comparison), the five-split summary (splits) and what the
benchmarks share (benchmarks). The last stage: it may import every other."""
