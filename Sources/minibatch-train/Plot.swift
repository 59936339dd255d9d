import Foundation

/// A self-contained SVG of curves per epoch, in panels side by side, that reads in a report: nice
/// tick values (1-2-5 steps) with gridlines on both axes, axis titles, margins computed from the
/// widths of the labels (none is cut off), one legend above the panels (outside every data area),
/// a log scale for a quantity that spans more than two decades, and series told apart without
/// colour (dash pattern and marker shape). Non-finite values break their curve and are marked on
/// the panel's upper edge; no coordinate or label is ever a number of hundreds of digits.
struct Plot {
  /// How a series is drawn.
  enum Style: String, CaseIterable {
    /// Solid line, circles.
    case training
    /// Dashed line, squares.
    case test
    /// Solid line, diamonds, a third colour.
    case privacy

    var colour: String {
      switch self {
      case .training: return "#1f77b4"
      case .test: return "#d62728"
      case .privacy: return "#2ca02c"
      }
    }

    /// The stroke's dash pattern (`nil`: solid).
    var dashes: String? { self == .test ? "7 4" : nil }
  }

  struct Series {
    var name: String
    var style: Style
    /// One value per epoch of ``Plot/epochs`` (`nil`: none that epoch).
    var values: [Double?]
  }

  struct Panel {
    var title: String
    /// The y axis' title.
    var axis: String
    var series: [Series]
    /// Clamp the axis to this range (accuracy: 0...100).
    var bounds: ClosedRange<Double>? = nil
    /// A log scale when the finite values are positive and span more than two decades.
    var allowsLogScale = false
  }

  var title: String
  /// The epochs, 1-based, increasing.
  var epochs: [Double]
  var panels: [Panel]

  // MARK: - Layout constants

  static let fontSize = 12.0
  static let panelWidth = 440.0
  static let plotHeight = 250.0
  static let gap = 24.0

  /// The width of `text` at `size`: sans-serif digits are about 0.56 em wide (DejaVu Sans, the
  /// usual fallback, 0.64); estimated generously, so that margins always hold the labels.
  static func width(_ text: String, size: Double = fontSize) -> Double {
    Double(text.count) * 0.64 * size
  }

  // MARK: - Scales

  /// An axis: the range drawn, the tick values and their labels, and whether it is logarithmic.
  struct Axis {
    var low: Double
    var high: Double
    var ticks: [Double]
    var labels: [String]
    var isLog = false

    /// The fraction of the way from `low` to `high` of `value` (0 at `low`).
    func fraction(_ value: Double) -> Double {
      if isLog { return (log10(value) - log10(low)) / (log10(high) - log10(low)) }
      return (value - low) / (high - low)
    }
  }

  /// The nice step (1, 2 or 5 × 10^k) that splits `span` into about `count` intervals.
  static func niceStep(_ span: Double, count: Int) -> Double {
    let raw = span / Double(max(1, count))
    let magnitude = pow(10, floor(log10(raw)))
    let fraction = raw / magnitude
    let nice: Double = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
    return nice * magnitude
  }

  /// A linear axis over `low...high` (finite) whose ends are ticks, `count` intervals or so.
  static func linearAxis(
    _ low: Double, _ high: Double, count: Int = 5, bounds: ClosedRange<Double>? = nil
  ) -> Axis {
    var (low, high) = (low, high)
    if high - low <= 1e-12 * max(1, abs(high)) {
      let pad = max(abs(high) * 0.05, 1e-3)
      (low, high) = (low - pad, high + pad)
    }
    if let bounds { (low, high) = (max(low, bounds.lowerBound), min(high, bounds.upperBound)) }
    let step = niceStep(high - low, count: count)
    var start = floor(low / step) * step
    var end = ceil(high / step) * step
    // A value on a tick at an end would sit on the frame: one more step there, within the bounds
    // (and not below 0 for values that are not negative).
    let floorLimit = bounds?.lowerBound ?? (low >= 0 ? 0 : -.infinity)
    if low - start < 0.03 * (end - start), start - step >= floorLimit - 1e-12 * step {
      start -= step
    }
    if end - high < 0.03 * (end - start), end + step <= (bounds?.upperBound ?? .infinity) {
      end += step
    }
    if let bounds { (start, end) = (max(start, bounds.lowerBound), min(end, bounds.upperBound)) }
    let steps = Int(((end - start) / step).rounded())
    let ticks = (0...max(1, steps)).map { start + Double($0) * step }.filter {
      $0 <= end + step / 2
    }
    let labels = ticks.map { format($0, step: step) }
    return Axis(low: start, high: max(end, start + step), ticks: ticks, labels: labels)
  }

  /// A log axis from a power of ten at or below `low` to one at or above `high`, ticked at every
  /// power of ten, or every 2nd, 5th, 10th… (a 1-2-5 step in the exponent) over many decades.
  static func logAxis(_ low: Double, _ high: Double) -> Axis {
    let decades = max(1, ceil(log10(high)) - floor(log10(low)))
    let every = max(1, Int(niceStep(decades, count: 6)))
    let first = Int(floor(floor(log10(low)) / Double(every))) * every
    var last = Int(ceil(ceil(log10(high)) / Double(every))) * every
    if last == first { last += every }
    let powers = Array(stride(from: first, through: last, by: every))
    return Axis(
      low: pow(10, Double(first)), high: pow(10, Double(last)),
      ticks: powers.map { pow(10, Double($0)) }, labels: powers.map(powerOfTen), isLog: true)
  }

  /// `10^k` as a label: `0.01`, `1`, `1000` between 10⁻³ and 10⁴, `1e-5` and `1e12` beyond.
  static func powerOfTen(_ k: Int) -> String {
    if (-3...4).contains(k) { return format(pow(10, Double(k)), step: pow(10, Double(min(k, 0)))) }
    return "1e\(k)"
  }

  /// A tick value with as many decimals as its `step` needs, in exponent form when it is very
  /// large or small (`2.5e10`), never `-0`.
  static func format(_ value: Double, step: Double) -> String {
    if value == 0 || abs(value) < step * 1e-9 { return "0" }
    let magnitude = abs(value)
    if magnitude >= 1e5 || magnitude < 1e-4 {
      let exponent = Int(floor(log10(magnitude)))
      let digits = max(0, min(6, exponent - Int(floor(log10(step)))))
      var mantissa = String(format: "%.\(digits)f", value / pow(10, Double(exponent)))
      if mantissa.contains(".") {
        while mantissa.hasSuffix("0") { mantissa.removeLast() }
        if mantissa.hasSuffix(".") { mantissa.removeLast() }
      }
      return "\(mantissa)e\(exponent)"
    }
    let decimals = max(0, min(10, -Int(floor(log10(step) + 1e-9))))
    return String(format: "%.\(decimals)f", value)
  }

  /// A value for a tooltip or a note: four significant digits, `inf`/`nan` as words.
  static func describe(_ value: Double) -> String {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value > 0 ? "∞" : "−∞" }
    return String(format: "%.4g", value)
  }

  /// The y axis of `panel`: log when allowed and the positive values span more than two decades.
  static func yAxis(_ panel: Panel) -> Axis {
    let values = panel.series.flatMap { $0.values.compactMap { $0 } }.filter(\.isFinite)
    guard let low = values.min(), let high = values.max() else {
      return linearAxis(panel.bounds?.lowerBound ?? 0, panel.bounds?.upperBound ?? 1)
    }
    if panel.allowsLogScale, low > 0, high / low > 100 { return logAxis(low, high) }
    return linearAxis(low, high, bounds: panel.bounds)
  }

  /// The x axis: integer epochs in nice steps, padded by 3 % on each side so that no marker
  /// sits on the frame; one epoch is drawn in the middle of its axis.
  static func xAxis(_ epochs: [Double]) -> Axis {
    let first = epochs.first ?? 1
    let last = epochs.last ?? 1
    if last - first < 1 {
      return Axis(
        low: first - 0.5, high: first + 0.5, ticks: [first], labels: [format(first, step: 1)])
    }
    let step = max(1, niceStep(last - first, count: 6))
    let ticks = stride(from: ceil(first / step) * step, through: last, by: step).map { $0 }
    let pad = 0.03 * (last - first)
    return Axis(
      low: first - pad, high: last + pad, ticks: ticks, labels: ticks.map { format($0, step: 1) })
  }

  // MARK: - Drawing

  var svg: String {
    let panelsWithData = panels
    let width =
      Double(panelsWithData.count) * Self.panelWidth
      + Double(max(0, panelsWithData.count - 1)) * Self.gap + 2 * Self.gap
    let styles = Plot.Style.allCases.filter { style in
      panels.contains {
        $0.series.contains { $0.style == style && $0.values.contains { $0 != nil } }
      }
    }
    let legendEntries = styles.compactMap { style in
      panels.lazy.flatMap(\.series).first { $0.style == style }.map { (style, $0.name) }
    }
    let top = 64.0
    let bottom = 70.0
    let height = top + 28 + Self.plotHeight + bottom
    var body = ""
    for (index, panel) in panelsWithData.enumerated() {
      body += draw(
        panel, x: Self.gap + Double(index) * (Self.panelWidth + Self.gap), y: top,
        width: Self.panelWidth)
    }
    let w = Int(width.rounded(.up))
    let h = Int(height.rounded(.up))
    return """
      <?xml version="1.0" encoding="UTF-8"?>
      <svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="\(w)" height="\(h)" viewBox="0 0 \(w) \(h)" \
      font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="\(Int(Self.fontSize))">
      <title>\(Self.escaped(title))</title>
      <defs>
      \(Style.allCases.map(Self.markerDefinition).joined(separator: "\n"))
      </defs>
      <rect width="100%" height="100%" fill="white"/>
      <text class="title" x="\(w / 2)" y="24" text-anchor="middle" font-size="15" \
      font-weight="bold">\(Self.escaped(Self.shortened(title, to: width - 20, size: 15)))</text>
      \(legend(legendEntries, centre: width / 2, y: 46))\(body)</svg>

      """
  }

  /// `text` cut (with an ellipsis) to fit `width`.
  static func shortened(_ text: String, to width: Double, size: Double) -> String {
    let fits = Int(width / (0.64 * size))
    return text.count <= fits ? text : String(text.prefix(max(1, fits - 1))) + "…"
  }

  /// A marker shape as a reusable symbol (`<use>` places it, centred on its point).
  static func markerDefinition(_ style: Style) -> String {
    let shape: String
    switch style {
    case .training: shape = "<circle cx=\"0\" cy=\"0\" r=\"3.6\"/>"
    case .test: shape = "<rect x=\"-3.3\" y=\"-3.3\" width=\"6.6\" height=\"6.6\"/>"
    case .privacy: shape = "<path d=\"M0,-4.6 L4.6,0 L0,4.6 L-4.6,0 Z\"/>"
    }
    return "<g id=\"marker-\(style.rawValue)\" fill=\"\(style.colour)\" stroke=\"white\" "
      + "stroke-width=\"0.8\">\(shape)</g>"
  }

  /// The legend: one entry per style, a line with its dash pattern and marker, then its name.
  func legend(_ entries: [(Style, String)], centre: Double, y: Double) -> String {
    guard !entries.isEmpty else { return "" }
    let sample = 30.0
    let widths = entries.map { sample + 6 + Self.width($0.1) + 18 }
    var x = centre - widths.reduce(0, +) / 2
    var text = "<g class=\"legend\">\n"
    for ((style, name), width) in zip(entries, widths) {
      text += "<line x1=\"\(Self.f(x))\" y1=\"\(Self.f(y - 4))\" x2=\"\(Self.f(x + sample))\" "
      text += "y2=\"\(Self.f(y - 4))\" stroke=\"\(style.colour)\" stroke-width=\"2\""
      text += (style.dashes.map { " stroke-dasharray=\"\($0)\"" } ?? "") + "/>\n"
      text += "<use xlink:href=\"#marker-\(style.rawValue)\" x=\"\(Self.f(x + sample / 2))\" "
      text += "y=\"\(Self.f(y - 4))\"/>\n"
      text += Self.label(x: x + sample + 6, y: y, Self.escaped(name), anchor: "start")
      x += width
    }
    return text + "</g>\n"
  }

  /// One panel: its title, axes with ticks, gridlines and titles, and its series.
  func draw(_ panel: Panel, x: Double, y: Double, width: Double) -> String {
    let yAxis = Self.yAxis(panel)
    let xAxis = Self.xAxis(epochs)
    let labelWidth = yAxis.labels.map { Self.width($0) }.max() ?? 0
    let left = x + 18 + 8 + labelWidth + 6
    let right = x + width - 8
    let top = y + 28
    let bottom = top + Self.plotHeight
    let plotWidth = right - left
    func px(_ epoch: Double) -> Double { left + xAxis.fraction(epoch) * plotWidth }
    func py(_ value: Double) -> Double {
      bottom - min(1, max(0, yAxis.fraction(value))) * Self.plotHeight
    }
    var text = "<g class=\"panel\" data-name=\"\(Self.escaped(panel.title))\" "
    text += "data-scale=\"\(yAxis.isLog ? "log" : "linear")\">\n"
    let title = panel.title + (yAxis.isLog ? " (log scale)" : "")
    text += Self.label(
      x: (left + right) / 2, y: y + 16, Self.escaped(Self.shortened(title, to: width, size: 13)),
      anchor: "middle", extra: " font-size=\"13\" font-weight=\"bold\"")
    // Gridlines and ticks.
    text += "<g class=\"grid\" stroke=\"#e3e3e3\" stroke-width=\"1\">\n"
    for tick in yAxis.ticks {
      text += "<line x1=\"\(Self.f(left))\" x2=\"\(Self.f(right))\" y1=\"\(Self.f(py(tick)))\" "
      text += "y2=\"\(Self.f(py(tick)))\"/>\n"
    }
    for tick in xAxis.ticks {
      text += "<line x1=\"\(Self.f(px(tick)))\" x2=\"\(Self.f(px(tick)))\" y1=\"\(Self.f(top))\" "
      text += "y2=\"\(Self.f(bottom))\"/>\n"
    }
    text += "</g>\n"
    text += "<rect class=\"data-area\" x=\"\(Self.f(left))\" y=\"\(Self.f(top))\" "
    text += "width=\"\(Self.f(plotWidth))\" height=\"\(Self.f(Self.plotHeight))\" fill=\"none\" "
    text += "stroke=\"#555\"/>\n"
    text += "<g class=\"axis y\">\n"
    for (tick, label) in zip(yAxis.ticks, yAxis.labels) {
      text += Self.label(
        x: left - 6, y: py(tick) + 4, label, anchor: "end", extra: " class=\"tick\"")
    }
    let axisX = x + 18
    text += "<text class=\"axis-title\" x=\"\(Self.f(axisX))\" y=\"\(Self.f((top + bottom) / 2))\" "
    text += "text-anchor=\"middle\" transform=\"rotate(-90 \(Self.f(axisX)) "
    text += "\(Self.f((top + bottom) / 2)))\">\(Self.escaped(panel.axis))</text>\n</g>\n"
    text += "<g class=\"axis x\">\n"
    for (tick, label) in zip(xAxis.ticks, xAxis.labels) {
      text += Self.label(
        x: px(tick), y: bottom + 16, label, anchor: "middle", extra: " class=\"tick\"")
    }
    text += Self.label(
      x: (left + right) / 2, y: bottom + 36, "epoch", anchor: "middle",
      extra: " class=\"axis-title\"")
    text += "</g>\n"
    // The series.
    var offScale: [String] = []
    for series in panel.series {
      let present = zip(epochs, series.values).compactMap { epoch, value in
        value.map { (epoch, $0) }
      }
      if present.isEmpty { continue }
      text += "<g class=\"series\" data-name=\"\(Self.escaped(series.name))\" "
      text += "data-style=\"\(series.style.rawValue)\">\n"
      var marks: [String] = []
      // A non-finite value breaks the curve: one polyline per finite run.
      var runs: [[(Double, Double)]] = [[]]
      for (epoch, value) in present {
        if value.isFinite { runs[runs.count - 1].append((epoch, value)) } else { runs.append([]) }
      }
      for run in runs where run.count >= 2 {
        text += "<polyline fill=\"none\" stroke=\"\(series.style.colour)\" stroke-width=\"1.8\""
        text += series.style.dashes.map { " stroke-dasharray=\"\($0)\"" } ?? ""
        text += " points=\""
        text += run.map { "\(Self.f(px($0.0))),\(Self.f(py($0.1)))" }.joined(separator: " ")
        text += "\"/>\n"
      }
      for (epoch, value) in present {
        let tip = "epoch \(Self.format(epoch, step: 1)): \(series.name) \(Self.describe(value))"
        if value.isFinite {
          text += "<use class=\"point\" data-epoch=\"\(Self.format(epoch, step: 1))\" "
          text += "xlink:href=\"#marker-\(series.style.rawValue)\" x=\"\(Self.f(px(epoch)))\" "
          text += "y=\"\(Self.f(py(value)))\"><title>\(Self.escaped(tip))</title></use>\n"
        } else {
          // Off the scale: a mark on the upper edge, named in its tooltip and the note below.
          text += "<text class=\"point nonfinite\" data-epoch=\"\(Self.format(epoch, step: 1))\" "
          text += "x=\"\(Self.f(px(epoch)))\" y=\"\(Self.f(top + 11))\" text-anchor=\"middle\" "
          text += "font-size=\"10\" fill=\"\(series.style.colour)\">▲"
          text += "<title>\(Self.escaped(tip))</title></text>\n"
          marks.append("\(Self.describe(value)) (epoch \(Self.format(epoch, step: 1)))")
        }
      }
      text += "</g>\n"
      if !marks.isEmpty { offScale.append("\(series.name): " + marks.joined(separator: ", ")) }
    }
    if !offScale.isEmpty {
      let note = Self.shortened(
        "▲ off the scale — " + offScale.joined(separator: "; "), to: right - x, size: 11)
      text += Self.label(
        x: x + 4, y: bottom + 56, Self.escaped(note), anchor: "start",
        extra: " class=\"note\" font-size=\"11\" fill=\"#444\"")
    }
    return text + "</g>\n"
  }

  /// A coordinate, with two decimals.
  static func f(_ value: Double) -> String { String(format: "%.2f", value) }

  static func label(
    x: Double, y: Double, _ text: String, anchor: String, extra: String = ""
  ) -> String {
    "<text x=\"\(f(x))\" y=\"\(f(y))\" text-anchor=\"\(anchor)\"\(extra)>\(text)</text>\n"
  }

  static func escaped(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
  }
}
