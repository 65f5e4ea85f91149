"""Security review checks. Every check returns findings in the one format
(``opskit.records.Finding``); grading and suppressions work on any of them."""
