package image

// Image names follow the grammar of docker's references, as
// github.com/distribution/reference defines it:
//
//	name   := [domain "/"] path [":" tag]
//	domain := host [":" port]      host: dns-name | "[" ipv6 "]"
//	path   := component ("/" component)*
//	component := [a-z0-9]+ (separator [a-z0-9]+)*   separator: "." | "_" | "__" | "-"+
//	tag    := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//
// The first element is a domain only if it is "localhost", holds a "." or
// a ":", or an upper-case letter, and is a valid one; a path is at most 255
// characters, a single-element name on Docker Hub counting as
// "library/NAME".
//
// That library checks it with regular expressions it compiles when the
// program starts, about a millisecond of every crate command, container
// starts included; this file checks the same grammar by hand, and
// reference_test.go holds it to the library's answers.

import "strings"

// maxPath is the longest path a reference may have (RepositoryNameTotalLengthMax).
const maxPath = 255

// hubDomains are Docker Hub's: a one-element path there is "library/NAME".
var hubDomains = []string{"", "docker.io", "index.docker.io"}

// parseName checks name against the grammar and returns the repository in
// the familiar form docker prints (no Docker Hub domain, no "library/"),
// whether it has a tag, and, if it is not a valid name, why in words that
// never repeat the name.
func parseName(name string) (repo string, tagged bool, problem string) {
	if strings.Contains(name, "@") {
		return "", false, "only NAME[:TAG] is supported, not a digest"
	}
	// A first element that looks like a domain but is not a valid one is
	// read as part of the path, as the library's regular expression does
	// ("my_reg.io/app" is a path of two components).
	domain, remainder := "", name
	if first, rest, ok := strings.Cut(name, "/"); ok && validDomain(first) &&
		(first == "localhost" || strings.ContainsAny(first, ".:") || strings.ToLower(first) != first) {
		domain, remainder = first, rest
	}
	path, tag, tagged := strings.Cut(remainder, ":")
	if strings.ToLower(path) != path {
		return "", false, "repository name must be lowercase"
	}
	if !validPath(path) {
		return "", false, notAReference
	}
	if tagged && !validTag(tag) {
		return "", false, "invalid tag format"
	}
	hub := false
	for _, d := range hubDomains {
		hub = hub || domain == d
	}
	length := len(path)
	if hub && !strings.Contains(path, "/") {
		length += len("library/")
	}
	if length > maxPath {
		return "", false, "repository name must not be more than 255 characters"
	}
	switch {
	case !hub:
		repo = domain + "/" + path
	case strings.HasPrefix(path, "library/") && !strings.Contains(path[len("library/"):], "/"):
		repo = path[len("library/"):]
	default:
		repo = path
	}
	return repo, tagged, ""
}

// notAReference says what a name is made of, for one that is not.
const notAReference = "not a NAME[:TAG] reference (lowercase letters, digits and separators . _ - /, a tag of at most 128 letters, digits and . _ -)"

// validDomain checks host[:port].
func validDomain(d string) bool {
	host, port, hasPort := d, "", false
	if i := strings.LastIndex(d, ":"); i >= 0 && !strings.HasSuffix(d, "]") {
		host, port, hasPort = d[:i], d[i+1:], true
	}
	if hasPort && (port == "" || strings.Trim(port, "0123456789") != "") {
		return false
	}
	if inner, ok := strings.CutPrefix(host, "["); ok {
		inner, ok = strings.CutSuffix(inner, "]")
		return ok && inner != "" && strings.Trim(inner, "0123456789abcdefABCDEF:") == ""
	}
	for _, c := range strings.Split(host, ".") {
		if c == "" || c[0] == '-' || c[len(c)-1] == '-' || strings.Trim(c, alnum+upper+"-") != "" {
			return false
		}
	}
	return true
}

const (
	alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

// validPath checks component ("/" component)*.
func validPath(p string) bool {
	for _, c := range strings.Split(p, "/") {
		if !validComponent(c) {
			return false
		}
	}
	return true
}

// validComponent checks [a-z0-9]+ (separator [a-z0-9]+)*, where a
// separator is ".", "_", "__" or any number of "-".
func validComponent(c string) bool {
	i := 0
	for {
		start := i
		for i < len(c) && strings.IndexByte(alnum, c[i]) >= 0 {
			i++
		}
		if i == start {
			return false // empty, or a separator where a letter or digit belongs
		}
		if i == len(c) {
			return true
		}
		switch {
		case c[i] == '.':
			i++
		case c[i] == '_':
			i++
			if i < len(c) && c[i] == '_' {
				i++
			}
		case c[i] == '-':
			for i < len(c) && c[i] == '-' {
				i++
			}
		default:
			return false
		}
	}
}

// validTag checks [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func validTag(t string) bool {
	word := alnum + upper + "_"
	return len(t) >= 1 && len(t) <= 128 && strings.IndexByte(word, t[0]) >= 0 &&
		strings.Trim(t, word+".-") == ""
}
