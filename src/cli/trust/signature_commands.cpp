// trust sign and trust verify: detached signatures with a project's key (docs/trust.md).
#include <cstdio>
#include <string>

#include "cli/trust/commands.hpp"
#include "core/file.hpp"
#include "trust/certificate.hpp"
#include "trust/keyset.hpp"
#include "trust/project.hpp"
#include "trust/signing.hpp"

namespace mos::cli {
namespace {

using namespace mos::trust;

constexpr std::size_t kMaxShownFile = 1 << 20;

// --keyset KS --project P, or --project KS:P.
Result<ProjectKey> chosen_project(const std::string& keyset, const std::string& project) {
  if (project.empty()) return fail("--project is required (with --keyset, or as KEYSET:PROJECT)");
  if (keyset.empty()) {
    MOS_TRY_ASSIGN(ProjectRef ref, ProjectRef::parse(project));
    return load_project(ref);
  }
  MOS_TRY_ASSIGN(fs::path dir, find_keyset(keyset));
  return load_project(dir, project);
}

Status sign_command(const std::string& keyset, const std::string& project, const std::string& file,
                    std::string output, bool quiet) {
  MOS_TRY_ASSIGN(ProjectKey key, chosen_project(keyset, project));
  MOS_TRY_ASSIGN(std::string signature, sign_file(key.private_key_path, file));
  if (output.empty()) output = file + ".signed";
  MOS_TRY(write_file_atomic(output, signature, 0640));
  if (!quiet)
    std::printf("Signed %s with %s:%s into %s\n", file.c_str(), key.keyset.c_str(),
                key.project.c_str(), output.c_str());
  return {};
}

Status verify_command(const std::string& cert, const std::string& ca, const std::string& keyset,
                      const std::string& project, const std::string& signature_path,
                      const std::string& file, bool quiet) {
  std::string cert_pem;
  std::string ca_pem;
  if (!cert.empty()) {
    if (!keyset.empty() || !project.empty())
      return fail("give either --cert or --keyset/--project, not both");
    MOS_TRY_ASSIGN(cert_pem, read_file(cert, kMaxShownFile));
  } else {
    MOS_TRY_ASSIGN(ProjectKey key, chosen_project(keyset, project));
    cert_pem = key.cert_pem;
    ca_pem = key.manifest_ca_pem;  // a keyset's project is also checked against its CA
  }
  if (!ca.empty()) {
    MOS_TRY_ASSIGN(ca_pem, read_file(ca, kMaxShownFile));
  }
  MOS_TRY_ASSIGN(std::string signature, read_file(signature_path, 64 * 1024));
  if (!ca_pem.empty()) MOS_TRY(verify_certificate(cert_pem, ca_pem));
  if (auto ok = verify_file_signature(cert_pem, signature, file); !ok)
    return context(fmt::format("verifying {} with signature {}", file, signature_path), ok.error());
  if (!quiet) std::printf("Verified OK\n");
  return {};
}

}  // namespace

void add_signature_commands(Program& program) {
  CLI::App& app = program.app();
  static std::string sign_keyset, sign_project, file, output, cert, ca, signature;
  auto* sign =
      app.add_subcommand("sign", "Sign a file with a project's key (openssl dgst -sha256 -sign)");
  sign->add_option("--keyset", sign_keyset, "Keyset name")->type_name("KEYSET");
  sign->add_option("--project", sign_project, "Project name, or KEYSET:PROJECT")
      ->type_name("PROJECT")
      ->required();
  sign->add_option("FILE", file, "File to sign")->required();
  sign->add_option("-o,--output", output, "Signature file (default FILE.signed)")
      ->type_name("FILE");
  program.examples(sign,
                   {{"Sign install.json with project default of snakeoil (install.json.signed)",
                     "trust sign --project snakeoil:default install.json"},
                    {"The same, naming the keyset and the signature file",
                     "trust sign --keyset snakeoil --project default -o install.json.sig "
                     "install.json"}});
  program.on_run(sign, [&program] {
    return sign_command(sign_keyset, sign_project, file, output, program.quiet());
  });

  auto* verify =
      app.add_subcommand("verify", "Verify a file's signature (openssl dgst -sha256 -verify)");
  verify->add_option("--cert", cert, "Signer certificate PEM")->type_name("FILE");
  verify->add_option("--ca", ca, "Also check that the certificate chains to this CA (PEM)")
      ->type_name("FILE");
  verify->add_option("--keyset", sign_keyset, "Keyset name (instead of --cert)")
      ->type_name("KEYSET");
  verify
      ->add_option("--project", sign_project, "Project name or KEYSET:PROJECT (instead of --cert)")
      ->type_name("PROJECT");
  verify->add_option("--signature", signature, "Signature file")->type_name("FILE")->required();
  verify->add_option("FILE", file, "Signed file")->required();
  program.examples(verify,
                   {{"Check a signature made by trust sign",
                     "trust verify --project snakeoil:default --signature install.json.signed "
                     "install.json"},
                    {"With the certificate of a published manifest, chained to the manifest CA",
                     "trust verify --cert cert.pem --ca manifestCA.pem --signature signature "
                     "install.json"}});
  program.on_run(verify, [&program] {
    return verify_command(cert, ca, sign_keyset, sign_project, signature, file, program.quiet());
  });
}

}  // namespace mos::cli
