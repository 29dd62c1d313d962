// The entry point web/vendor.sh bundles into build/vendor/pki.js: the parts
// of PKI.js and asn1js the enrolment page uses, as window.SignetPKI.
export * as pkijs from "pkijs";
export * as asn1js from "asn1js";
