package netstack

import (
	"fmt"
	"strconv"
	"strings"
)

// checkQueryName returns a DNS query's name lower case without its
// trailing dot, or why it is not a host name: the same rules as package
// sandbox/egress's rules' names (letters, digits, '-' and '_', labels of 1
// to 63 that neither start nor end with '-', at most 253 in all). Only
// such names reach the Policy and the Events as they are.
func checkQueryName(raw string) (string, error) {
	name := strings.TrimSuffix(strings.ToLower(raw), ".")
	if len(name) > 253 {
		return "", fmt.Errorf("longer than a host name's 253 characters")
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("has an empty or over-long (63) label")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("has a label that starts or ends with '-'")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("has %s, which no host name has", strconv.QuoteToASCII(string(c)))
			}
		}
	}
	return name, nil
}

// quoteName is a query name that is not a host name, as Events carry it:
// quoted and escaped to printable ASCII, never raw bytes.
func quoteName(raw string) string {
	return strconv.QuoteToASCII(raw)
}
