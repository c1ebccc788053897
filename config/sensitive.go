package config

// SensitiveConfig is the `sensitive:` section of the user's config: what the check before a
// run (and `aishell scan`) reports beyond its own list, and what it does not report. Only the
// user's own file is read for it: a project cannot allow its secrets past the check, nor hide
// them from the scan.
type SensitiveConfig struct {
	// Patterns are more files to report, each with its severity.
	Patterns []SensitivePattern `yaml:"patterns,omitempty"`
	// Allow are paths or globs, relative to the project root, never reported: a pattern
	// without a slash matches a file's name at any depth (`*.pem`), one with a slash the path
	// from the root (`certs/dev/*.key`, `fixtures/**`), and `dir/` everything under dir.
	Allow []string `yaml:"allow,omitempty"`
}

// SensitivePattern is one more kind of file to report.
type SensitivePattern struct {
	// Glob is matched as an Allow entry is: a name at any depth, or a path from the root.
	Glob string `yaml:"glob"`
	// Severity is high (asks before a run, refuses without a terminal), medium or low (warn).
	Severity string `yaml:"severity"`
	// Description says what the file is, in the report (default: "matches <glob>").
	Description string `yaml:"description,omitempty"`
}
