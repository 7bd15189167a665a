package unpack

import (
	"bytes"
	"fmt"
	"strconv"
)

// Raw tar blocks, for what archive/tar's Writer will not write: sparse
// files (GNU.sparse PAX records, old GNU sparse headers).

// rawHeader returns a 512-byte header block; gnu selects the old GNU
// magic, and extra, if set, edits the block before its checksum.
func rawHeader(name string, typ byte, size int64, gnu bool, extra func(b []byte)) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:108], "0000644\x00")
	copy(b[108:116], "0000000\x00")
	copy(b[116:124], "0000000\x00")
	copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	copy(b[136:148], fmt.Sprintf("%011o\x00", testTime.Unix()))
	b[156] = typ
	if gnu {
		copy(b[257:265], "ustar  \x00")
	} else {
		copy(b[257:265], "ustar\x0000")
	}
	if extra != nil {
		extra(b)
	}
	copy(b[148:156], "        ")
	var sum int64
	for _, c := range b {
		sum += int64(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// pad returns data padded with zeros to a multiple of 512 bytes.
func pad(data []byte) []byte {
	return append(data, make([]byte, (512-len(data)%512)%512)...)
}

// paxRecord formats one PAX record, its length counting itself.
func paxRecord(k, v string) string {
	n := len(k) + len(v) + 3 // " ", "=", "\n"
	l := n
	for l != n+len(strconv.Itoa(l)) {
		l = n + len(strconv.Itoa(l))
	}
	return fmt.Sprintf("%d %s=%s\n", l, k, v)
}

// paxSparseLayer is a layer holding the file "sparse" of size bytes, data
// at offset off and holes elsewhere, in the GNU PAX 0.1 sparse format.
func paxSparseLayer(size, off int64, data string) []byte {
	recs := paxRecord("GNU.sparse.numblocks", "1") + paxRecord("GNU.sparse.map", fmt.Sprintf("%d,%d", off, len(data))) +
		paxRecord("GNU.sparse.size", strconv.FormatInt(size, 10))
	var buf bytes.Buffer
	buf.Write(rawHeader("PaxHeaders/sparse", 'x', int64(len(recs)), false, nil))
	buf.Write(pad([]byte(recs)))
	buf.Write(rawHeader("sparse", '0', int64(len(data)), false, nil))
	buf.Write(pad([]byte(data)))
	buf.Write(make([]byte, 1024))
	return buf.Bytes()
}

// gnuSparseLayer is the same file in the old GNU sparse format (type 'S').
func gnuSparseLayer(size, off int64, data string) []byte {
	var buf bytes.Buffer
	buf.Write(rawHeader("sparse", 'S', int64(len(data)), true, func(b []byte) {
		copy(b[386:398], fmt.Sprintf("%011o\x00", off))       // first sparse entry's offset
		copy(b[398:410], fmt.Sprintf("%011o\x00", len(data))) // and length
		copy(b[483:495], fmt.Sprintf("%011o\x00", size))      // the real size
	}))
	buf.Write(pad([]byte(data)))
	buf.Write(make([]byte, 1024))
	return buf.Bytes()
}
