// Package report writes what a stage found and did: the JSON report (with
// a JSON Schema generated from its Go types), the JUnit XML report, a
// short terminal summary, and — inside GitHub Actions — step outputs, a
// Markdown step summary, annotations and secret masks.
//
// Reports are written atomically (temporary file, fsync, rename) so that a
// run stopped by a signal never leaves half a file, and every string goes
// through a Redactor first so that no secret reaches a report.
//
// The JSON format is versioned by FormatVersion: a minor bump only adds
// fields and consumers ignore fields they do not know. The JUnit report
// validates against Jenkins' junit-10.xsd except for the file and line
// attributes on testcases, which GitHub and GitLab reporters read to
// annotate the inventory line a check is about.
package report
