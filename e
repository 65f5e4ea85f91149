security review: ERROR, no grade (the review broke)
findings: 1 high
1 of 1 URL(s) could not be reviewed (http://127.0.0.1:18730/: InvalidURL: ::::); a grade would vouch for a site nobody saw
record: st-review/security-review/2026/12/04/070933-127-0-0-1-18730-e654c109
