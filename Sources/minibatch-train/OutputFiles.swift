import Foundation
import Minibatch

/// The files a run writes (`--save`, `--history`, `--plot`): checked before any data is read, so
/// that a run never ends in an error it could have given at its start, and written atomically, so
/// that a failed or interrupted write leaves the previous file (or none), never half of one.
enum OutputFiles {
  /// A file's identity: its resolved path (symbolic links followed, `.` and `..` removed) and,
  /// when it exists, its device and inode (a hard link is the same file under another name).
  struct Identity: Equatable {
    var path: String
    var inode: (device: UInt64, inode: UInt64)?

    static func == (a: Identity, b: Identity) -> Bool {
      if let x = a.inode, let y = b.inode { return x.device == y.device && x.inode == y.inode }
      return a.path == b.path
    }
  }

  /// The identity of `path`, whether or not it exists (a missing file: its folder resolved).
  static func identity(of path: String) -> Identity {
    var status = stat()
    let inode =
      stat(path, &status) == 0
      ? (device: UInt64(status.st_dev), inode: UInt64(status.st_ino)) : nil
    return Identity(path: resolved(path), inode: inode)
  }

  /// `path` absolute, with symbolic links of the existing part followed.
  static func resolved(_ path: String) -> String {
    let url = URL(fileURLWithPath: path).standardizedFileURL
    if let real = realPath(url.path) { return real }
    let folder = realPath(url.deletingLastPathComponent().path)
    return folder.map { ($0 as NSString).appendingPathComponent(url.lastPathComponent) }
      ?? url.path
  }

  static func realPath(_ path: String) -> String? {
    guard let pointer = realpath(path, nil) else { return nil }
    defer { free(pointer) }
    return String(cString: pointer)
  }

  /// Checks that each output can be written and replaces no input: its folder exists and is
  /// writable, it is not a folder, it is none of `inputs` (compared by ``Identity``), and no two
  /// outputs are the same file. `mayReplace` names inputs an output may replace (`--save` the
  /// file of `--load`, to continue a run in place).
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` naming the option.
  static func check(
    outputs: [(option: String, path: String)], inputs: [(option: String, path: String)],
    mayReplace: [(output: String, input: String)] = []
  ) throws {
    var checked: [(option: String, identity: Identity)] = []
    for (option, path) in outputs {
      func refuse(_ expected: String) -> MinibatchError {
        .invalidArgument(name: option, value: path, expected: expected)
      }
      guard !path.isEmpty, !path.hasSuffix("/") else { throw refuse("a file name") }
      var isFolder: ObjCBool = false
      if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
        throw refuse("a file name, not a folder")
      }
      let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
      guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder),
        isFolder.boolValue
      else {
        throw refuse("a file in a folder that exists (\(folder) does not)")
      }
      guard access(folder, W_OK | X_OK) == 0 else {
        throw refuse("a file in a folder this program may write to (\(folder) is not)")
      }
      let identity = identity(of: path)
      for input in inputs where identity == Self.identity(of: input.path) {
        if mayReplace.contains(where: { $0 == (option, input.option) }) { continue }
        throw refuse(
          "a file that is not an input: it is the file of \(input.option) (\(input.path)), "
            + "which writing would replace")
      }
      if let other = checked.first(where: { $0.identity == identity }) {
        throw refuse("a file of its own: \(other.option) writes to it too")
      }
      checked.append((option, identity))
    }
  }

  /// Writes `data` to `path` atomically: into a temporary file in the same folder (so that the
  /// rename cannot cross file systems), flushed to the disk, then renamed over `path`. A
  /// symbolic link at `path` keeps pointing where it did: the file it names is replaced.
  /// - Throws: ``MinibatchError/fileUnwritable(path:reason:)``; nothing at `path` has changed.
  static func write(_ data: Data, to path: String) throws {
    let target = URL(fileURLWithPath: resolved(path))
    let temporary = target.deletingLastPathComponent().appendingPathComponent(
      ".\(target.lastPathComponent).\(UUID().uuidString).partial")
    func failure(_ reason: String) -> MinibatchError {
      try? FileManager.default.removeItem(at: temporary)
      return .fileUnwritable(path: path, reason: reason)
    }
    guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
      throw failure("cannot create a file in \(target.deletingLastPathComponent().path)")
    }
    do {
      let handle = try FileHandle(forWritingTo: temporary)
      defer { try? handle.close() }
      try handle.write(contentsOf: data)
      try handle.synchronize()
    } catch {
      throw failure(error.localizedDescription)
    }
    guard rename(temporary.path, target.path) == 0 else {
      throw failure(String(cString: strerror(errno)))
    }
  }

  /// ``write(_:to:)`` of UTF-8 text.
  static func write(_ text: String, to path: String) throws {
    try write(Data(text.utf8), to: path)
  }
}
