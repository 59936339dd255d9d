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

  func write(_ text: String, to path: String) throws { try OutputFiles.write(text, to: path) }

  // MARK: - The plot

  /// The run as a ``Plot``: the loss per epoch (training and test; log scale when it spans more
  /// than two decades), for classification the accuracy (%), and with DP-SGD the ε spent so far.
  func plot(title: String) -> Plot {
    var panels = [
      Plot.Panel(
        title: "Loss", axis: "mean loss",
        series: [
          Plot.Series(name: "training", style: .training, values: reports.map { $0.meanLoss }),
          Plot.Series(name: "test", style: .test, values: reports.map { $0.evaluationLoss }),
        ], allowsLogScale: true)
    ]
    if task == .classification {
      panels.append(
        Plot.Panel(
          title: "Accuracy", axis: "accuracy (%)",
          series: [
            Plot.Series(
              name: "training", style: .training,
              values: trainAccuracies.map { $0.map { 100 * $0 } }),
            Plot.Series(
              name: "test", style: .test,
              values: reports.map { $0.evaluationAccuracy.map { 100 * $0 } }),
          ], bounds: 0...100))
    }
    if reports.contains(where: { $0.epsilon != nil }) {
      panels.append(
        Plot.Panel(
          title: "Privacy spent", axis: "ε",
          series: [
            Plot.Series(name: "ε", style: .privacy, values: reports.map { $0.epsilon })
          ], bounds: 0...Double.infinity))
    }
    return Plot(title: title, epochs: reports.map { Double($0.epoch + 1) }, panels: panels)
  }

  /// The SVG of ``plot(title:)``.
  func svg(title: String) -> String { plot(title: title).svg }
}
