import Foundation

/// The contents of the file at `path`, as `Data(contentsOf:)` reads them, except that an empty
/// regular file gives empty data without that call: Foundation (Swift 6.3.1) leaks the 4 KiB
/// buffer it allocates for a file of size 0 (LeakSanitizer; reproduced by a four-line program
/// that reads an empty file three times and leaks 12,288 bytes). Every error is
/// `Data(contentsOf:)`'s.
func fileData(atPath path: String) throws -> Data {
  if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
    attributes[.type] as? FileAttributeType == .typeRegular,
    (attributes[.size] as? NSNumber)?.intValue == 0
  {
    return Data()
  }
  return try Data(contentsOf: URL(fileURLWithPath: path))
}
