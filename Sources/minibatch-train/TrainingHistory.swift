import Foundation
import Minibatch

/// The per-epoch record of a run: the epoch lines, the history CSV and the SVG plot.
final class TrainingHistory {
  let task: Task
  private(set) var reports: [EpochReport] = []
  private(set) var trainAccuracies: [Double?] = []

  init(task: Task) { self.task = task }

  func append(_ report: EpochReport, trainAccuracy: Double?) {
    reports.append(report)
    trainAccuracies.append(trainAccuracy)
  }

  /// The line printed after each epoch.
  func line(for report: EpochReport, trainAccuracy: Double?) -> String {
    var text = String(format: "epoch %3d  loss %.4f", report.epoch + 1, report.meanLoss)
    if let trainAccuracy { text += String(format: "  train %.2f%%", 100 * trainAccuracy) }
    if let accuracy = report.evaluationAccuracy {
      text += String(format: "  test %.2f%%", 100 * accuracy)
    } else if let loss = report.evaluationLoss {
      text += String(format: "  test loss %.4f", loss)
    }
    text += String(
      format: "  lr %.4g  %.0f examples/s", report.learningRate, report.examplesPerSecond)
    if let epsilon = report.epsilon { text += "  ε = " + PrivacyFormatting.roundedUp(epsilon) }
    if let scale = report.noiseScale?.simpleNoiseScale {
      text += String(format: "  B_simple %.4g", scale)
    }
    return text
  }

  /// `epoch,train_loss,train_accuracy,test_loss,test_accuracy,learning_rate,seconds,
  /// examples_per_second,epsilon,noise_scale`, one row per epoch (1-based); empty cells for what
  /// a run does not have.
  var csv: String {
    func cell(_ value: Double?) -> String { value.map { "\($0)" } ?? "" }
    var text =
      "epoch,train_loss,train_accuracy,test_loss,test_accuracy,learning_rate,seconds,"
      + "examples_per_second,epsilon,noise_scale\n"
    for (report, accuracy) in zip(reports, trainAccuracies) {
      text +=
        [
          "\(report.epoch + 1)", cell(report.meanLoss), cell(accuracy), cell(report.evaluationLoss),
          cell(report.evaluationAccuracy), cell(report.learningRate), cell(report.seconds),
          cell(report.examplesPerSecond), cell(report.epsilon),
          cell(report.noiseScale?.simpleNoiseScale),
        ].joined(separator: ",") + "\n"
    }
    return text
  }

  func writeCSV(to path: String) throws { try write(csv, to: path) }

  func writeSVG(to path: String, title: String) throws { try write(svg(title: title), to: path) }

  func write(_ text: String, to path: String) throws {
    do {
      try text.write(toFile: path, atomically: true, encoding: .utf8)
    } catch {
      throw MinibatchError.fileUnreadable(
        path: path, reason: "cannot write: \(error.localizedDescription)")
    }
  }

  // MARK: - The plot

  /// A self-contained SVG: the loss per epoch (training and test) and, for classification, the
  /// accuracy per epoch. Every series is a polyline with one `<circle class="point">` per epoch.
  func svg(title: String) -> String {
    let epochs = reports.map { Double($0.epoch + 1) }
    var panels: [(String, [(String, String, [Double?])])] = [
      (
        "loss",
        [
          ("training", "#1f77b4", reports.map { $0.meanLoss }),
          ("test", "#d62728", reports.map { $0.evaluationLoss }),
        ]
      )
    ]
    if task == .classification {
      panels.append(
        (
          "accuracy (%)",
          [
            ("training", "#1f77b4", trainAccuracies.map { $0.map { 100 * $0 } }),
            ("test", "#d62728", reports.map { $0.evaluationAccuracy.map { 100 * $0 } }),
          ]
        ))
    }
    let (panelWidth, height) = (440.0, 320.0)
    let width = panelWidth * Double(panels.count) + 20
    var body = ""
    for (index, (name, series)) in panels.enumerated() {
      body += panel(
        name: name, series: series, epochs: epochs, x: 10 + Double(index) * panelWidth,
        width: panelWidth - 20, height: height)
    }
    return """
      <?xml version="1.0" encoding="UTF-8"?>
      <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height + 40))" \
      viewBox="0 0 \(Int(width)) \(Int(height + 40))" font-family="sans-serif" font-size="12">
      <title>\(escaped(title))</title>
      <rect width="100%" height="100%" fill="white"/>
      <text x="\(Int(width / 2))" y="20" text-anchor="middle" font-size="14">\(escaped(title))</text>
      \(body)</svg>

      """
  }

  /// One chart: axes with their ranges, a polyline and points per series, a legend.
  func panel(
    name: String, series: [(String, String, [Double?])], epochs: [Double], x: Double,
    width: Double, height: Double
  ) -> String {
    let (left, top, plotWidth, plotHeight) = (x + 50, 40.0, width - 60, height - 60)
    let values = series.flatMap { $0.2.compactMap { $0 } }.filter(\.isFinite)
    var (low, high) = (values.min() ?? 0, values.max() ?? 1)
    if high - low < 1e-12 { (low, high) = (low - 0.5, high + 0.5) }
    let lastEpoch = max(2, epochs.last ?? 1)
    func px(_ epoch: Double) -> Double { left + (epoch - 1) / (lastEpoch - 1) * plotWidth }
    func py(_ value: Double) -> Double { top + (high - value) / (high - low) * plotHeight }
    var text = "<g class=\"panel\" data-name=\"\(escaped(name))\">\n"
    text += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\" "
    text += "fill=\"none\" stroke=\"#888\"/>\n"
    text += label(x: left + plotWidth / 2, y: top + plotHeight + 32, "epoch", anchor: "middle")
    text += label(x: left - 8, y: top + 4, format(high), anchor: "end")
    text += label(x: left - 8, y: top + plotHeight + 4, format(low), anchor: "end")
    text += label(x: left, y: top + plotHeight + 16, "1", anchor: "middle")
    text += label(
      x: left + plotWidth, y: top + plotHeight + 16, "\(Int(lastEpoch))", anchor: "middle")
    text += label(x: left, y: top - 8, name, anchor: "start")
    for (index, (seriesName, colour, points)) in series.enumerated() {
      let present = zip(epochs, points).compactMap { epoch, value in
        value.flatMap { $0.isFinite ? (epoch, $0) : nil }
      }
      if present.isEmpty { continue }
      let coordinates = present.map { String(format: "%.2f,%.2f", px($0.0), py($0.1)) }
      text += "<g class=\"series\" data-name=\"\(seriesName)\">\n"
      text += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\" points=\""
      text += coordinates.joined(separator: " ") + "\"/>\n"
      for (epoch, value) in present {
        text += String(
          format: "<circle class=\"point\" data-epoch=\"%d\" cx=\"%.2f\" cy=\"%.2f\" r=\"2.5\" "
            + "fill=\"%@\"><title>epoch %d: %@</title></circle>\n",
          Int(epoch), px(epoch), py(value), colour, Int(epoch), format(value))
      }
      text += "</g>\n"
      let legendY = top + 14 + Double(index) * 16
      text += "<line x1=\"\(left + plotWidth - 90)\" y1=\"\(legendY - 4)\" "
      text += "x2=\"\(left + plotWidth - 72)\" y2=\"\(legendY - 4)\" stroke=\"\(colour)\" "
      text += "stroke-width=\"2\"/>\n"
      text += label(x: left + plotWidth - 68, y: legendY, seriesName, anchor: "start")
    }
    return text + "</g>\n"
  }

  func label(x: Double, y: Double, _ text: String, anchor: String) -> String {
    String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%@\">", x, y, anchor)
      + escaped(text) + "</text>\n"
  }

  func format(_ value: Double) -> String { String(format: "%.4g", value) }

  func escaped(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
  }
}
