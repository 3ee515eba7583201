// Package fieldkit owns work in the field that needs no network: bundles
// (sync by file: [NewBundleWriter], [ReadBundle], laid out in
// docs/bundle-format.md), sample data and generators; resource packs come
// later.
//
// Public data is embedded from sampledata/: the 25 communities of Nunavut
// ([Communities]) and national crisis and support lines ([Hotlines]).
//
// Sample directory and outreach records ([SampleDirectory],
// [SampleOutreach]) and the benchmark generators ([GenerateDirectory],
// [GenerateOutreach]) produce [Record] values: plain field maps in the shape
// the node writes. Apart from the public hotlines, every service in them is
// fictional and says so in its name, and every phone number is in the
// 555-0100 to 555-0199 range that is reserved for fiction. Shelter records
// carry a location field, the field the node must seal; every location
// holds [CanaryMarker], so leak tests can search disks, logs, indexes,
// exports and bundles for it. No real shelter location belongs in this
// package, ever.
//
// The Inuktitut (syllabics) names and words are placeholders written for
// tests and demos. They are marked "(sample)" and have not been checked by a
// speaker; have them checked before they appear anywhere a person reads them
// as real text.
package fieldkit
