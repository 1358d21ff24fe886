package ociimage

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"time"
)

// SPDXPredicateType is the in-toto predicate type of an SPDX JSON SBOM, what
// `cosign attest --type spdxjson` writes and `cosign verify-attestation --type spdxjson` checks.
const SPDXPredicateType = "https://spdx.dev/Document"

// spdxDoc is the part of an SPDX 2.3 JSON document Seal writes.
type spdxDoc struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreation       `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreation struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name             string       `json:"name"`
	SPDXID           string       `json:"SPDXID"`
	VersionInfo      string       `json:"versionInfo,omitempty"`
	DownloadLocation string       `json:"downloadLocation"`
	FilesAnalyzed    bool         `json:"filesAnalyzed"`
	Checksums        []spdxSum    `json:"checksums,omitempty"`
	ExternalRefs     []spdxExtRef `json:"externalRefs,omitempty"`
	PrimaryPurpose   string       `json:"primaryPackagePurpose,omitempty"`
}

type spdxSum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

type spdxExtRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

// SBOM describes the Go binary at path as an SPDX 2.3 JSON document: the main module (at
// version), the Go standard library of the toolchain that built it and every module linked in,
// each with its package URL (pkg:golang/...), which vulnerability scanners (grype, trivy,
// osv-scanner) match. The list is the binary's own build information, so it names exactly what
// was linked, not what go.mod allows. created is the document's creation time.
func SBOM(path, name, version string, created time.Time) ([]byte, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ociimage: sbom of %s: %w", path, err)
	}
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ociimage: sbom of %s: %w", path, err)
	}
	sum := sha256.Sum256(bin)
	doc := spdxDoc{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name:              name + "-" + version,
		DocumentNamespace: "https://github.com/seal-dev/seal/spdx/" + name + "-" + version + "-" + hex.EncodeToString(sum[:8]),
		CreationInfo:      spdxCreation{Created: created.UTC().Format(time.RFC3339), Creators: []string{"Tool: seal-hack-images", "Organization: Seal"}},
	}
	main := spdxPackage{
		Name: name, SPDXID: "SPDXRef-Package-" + spdxID(name), VersionInfo: version,
		DownloadLocation: "NOASSERTION", PrimaryPurpose: "APPLICATION",
		Checksums:    []spdxSum{{Algorithm: "SHA256", Value: hex.EncodeToString(sum[:])}},
		ExternalRefs: []spdxExtRef{purl(bi.Main.Path, version)},
	}
	doc.Packages = append(doc.Packages, main)
	doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", main.SPDXID})
	std := spdxPackage{
		Name: "stdlib", SPDXID: "SPDXRef-Package-stdlib", VersionInfo: bi.GoVersion,
		DownloadLocation: "https://go.dev/dl/", ExternalRefs: []spdxExtRef{purl("stdlib", bi.GoVersion)},
	}
	doc.Packages = append(doc.Packages, std)
	doc.Relationships = append(doc.Relationships, spdxRelationship{main.SPDXID, "DEPENDS_ON", std.SPDXID})
	deps := append([]*debug.Module(nil), bi.Deps...)
	sort.Slice(deps, func(i, j int) bool { return deps[i].Path < deps[j].Path })
	for _, d := range deps {
		if d.Replace != nil {
			d = d.Replace
		}
		p := spdxPackage{
			Name: d.Path, SPDXID: "SPDXRef-Package-" + spdxID(d.Path+"-"+d.Version), VersionInfo: d.Version,
			DownloadLocation: "https://proxy.golang.org/" + strings.ToLower(d.Path) + "/@v/" + d.Version + ".zip",
			ExternalRefs:     []spdxExtRef{purl(d.Path, d.Version)},
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{main.SPDXID, "DEPENDS_ON", p.SPDXID})
	}
	return json.MarshalIndent(doc, "", " ")
}

// purl is the package URL reference of a Go module (or of the standard library).
func purl(path, version string) spdxExtRef {
	return spdxExtRef{Category: "PACKAGE-MANAGER", Type: "purl", Locator: "pkg:golang/" + path + "@" + version}
}

// spdxID makes s fit an SPDX identifier ([A-Za-z0-9.-]+).
func spdxID(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, s)
}
