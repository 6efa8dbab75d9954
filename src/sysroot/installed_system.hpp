#pragma once
// A system as recorded in one commit of the history, verified again every time it is read:
// each install manifest it uses is checked from the files of that commit (install.json hashes
// to its name, the certificate chains to the CA and names the product, the signature verifies,
// install.json parses and validates), every target image it names must be in the store with
// the signed digest and size, and manifest.json must agree with all of it (sources present,
// names found, uid ranges exactly for the nsgroups in use).
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "manifest/manifest.hpp"
#include "manifest/verify.hpp"
#include "oci/layout_store.hpp"
#include "sysroot/system_history.hpp"
#include "sysroot/system_manifest.hpp"
#include "trust/certificate.hpp"

namespace mos::sysroot {

// One signed install manifest as kept in the history: <sha>.json, <sha>.json.signed, <sha>.pem.
struct SignedTriple {
  std::string install_json;
  std::string signature;
  std::string certificate_pem;
};

struct VerifiedTriple {
  std::string source;  // "<sha>.json"
  SignedTriple files;
  manifest::Manifest manifest;
  trust::CertificateInfo certificate;
};

struct InstalledTarget {
  manifest::Target target;
  std::string source;
};

struct InstalledStorage {
  manifest::StorageItem item;
  std::string source;
};

struct InstalledSystem {
  std::string commit;
  SystemManifest record;
  std::map<std::string, VerifiedTriple> sources;  // by source name
  std::vector<InstalledTarget> targets;           // in record order
  std::vector<InstalledStorage> storage;
};

// The product a system runs: the product uuid its install manifests' certificates name (each
// names one; a system mixing products is refused).
Result<std::string> installed_product_uuid(const InstalledSystem& system);
// "name version, name version, ...": the targets as the history's commit messages list them.
std::string describe_targets(const std::vector<manifest::Target>& targets);

// The file names of a triple in the history.
std::string signature_file(const std::string& source);    // <sha>.json.signed
std::string certificate_file(const std::string& source);  // <sha>.pem

// Checks a triple offline: name, certificate chain, product, signature, install.json.
Result<VerifiedTriple> verify_triple(const std::string& source, const SignedTriple& files,
                                     const manifest::TrustPolicy& policy);

// Every file of a system: manifest.json plus the triple of every source it uses.
FileSet system_files(const SystemManifest& record,
                     const std::map<std::string, SignedTriple>& triples);

// Loads and verifies the system of `commit`. With `store`, every target image must be complete
// there (check_target_in_store).
Result<InstalledSystem> load_system(const SystemHistory& history, const std::string& commit,
                                    const manifest::TrustPolicy& policy, oci::LayoutStore* store);

// How system_from_files checks each signed triple: verify_triple with a policy for a system read
// from the history; see booted_system.hpp for the one the initramfs verified in this boot.
using TripleCheck =
    std::function<Result<VerifiedTriple>(const std::string& source, const SignedTriple& files)>;
// The system that `files` (one commit's: manifest.json and the triples it uses, nothing else)
// make, each triple checked by `check`; with `store`, as load_system.
Result<InstalledSystem> system_from_files(const std::string& commit, const FileSet& files,
                                          const TripleCheck& check, oci::LayoutStore* store);

// Checks that a target image is complete in the store as signed: listed with the signed digest,
// media type and size, its manifest bytes hash to the digest, and its config and every layer are
// present with their sizes (layers are hashed when copied, not on every read).
Status check_target_in_store(oci::LayoutStore& store, const manifest::Target& target);

}  // namespace mos::sysroot
