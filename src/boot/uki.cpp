#include "boot/uki.hpp"

#include "boot/pe_image.hpp"

namespace mos::boot {

Result<std::string> assemble_uki(const UkiParts& parts) {
  if (parts.kernel.empty()) return fail("cannot assemble a UKI without a kernel");
  MOS_TRY_ASSIGN(PeImage image, PeImage::parse(parts.stub, "the systemd EFI stub"));
  // systemd-stub finds its payload by section name; a stub that already carries one would
  // boot whichever it finds first.
  for (std::string_view name : {".osrel", ".cmdline", ".linux", ".initrd"})
    if (image.find(name)) return fail("the systemd EFI stub already has a {} section", name);
  if (!image.find(".sdmagic"))
    return fail("the systemd EFI stub has no .sdmagic section: is it linuxx64.efi.stub?");
  // Empty parts are left out, as ukify does: the stub treats a missing section as "none".
  struct Part {
    std::string_view name;
    const std::string& data;
  };
  for (const Part& part : {Part{".osrel", parts.os_release}, Part{".cmdline", parts.cmdline},
                           Part{".linux", parts.kernel}, Part{".initrd", parts.initramfs}}) {
    if (part.data.empty()) continue;
    MOS_TRY(with_context(image.add_section(part.name, part.data),
                         fmt::format("adding {} to the UKI", part.name)));
  }
  return image.bytes();
}

}  // namespace mos::boot
