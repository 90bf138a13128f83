/**
 * The GPU catalog: memory, bandwidth, dense peak FLOP/s by precision and board power, from NVIDIA's
 * architecture whitepapers and datasheets (named in `sources`). The planner divides FLOPs by these
 * peaks and telemetry computes MFU against them, so every figure is the *dense* rate a PyTorch
 * training step can reach:
 *
 * - fp16 / bf16 are tensor-core rates **with FP32 accumulate**: cuBLAS runs PyTorch's half-precision
 *   GEMMs with an FP32 compute type. GeForce cards (Ampere GA10x, Ada, Blackwell GB20x) run
 *   FP16-with-FP32-accumulate at **half** their FP16-accumulate rate (the headline "FP16 tensor"
 *   figure), and BF16 at that same half rate; datacenter parts run both at the full rate.
 * - tf32 is the dense tensor-core TF32 rate (PyTorch leaves TF32 matmuls off by default, so fp32
 *   training is timed against `fp32`, the CUDA-core rate). Volta and Turing have no TF32: their
 *   `tf32` is the FP32 rate.
 * - Volta and Turing have no BF16 tensor cores (`bf16Supported` false; the planner refuses bf16
 *   there): their `bf16` is the FP32 CUDA-core rate, what an emulated bf16 matmul gets at best.
 * - Datasheets quote tensor rates "with sparsity" (2:4 structured); those are halved here.
 *
 * Memory: `memoryBytes` is the nominal capacity (GDDR and HBM are binary, so "8 GB" is 8 GiB);
 * `nvmlTotalBytes` is what NVML / nvidia-smi report as memory.total, which is what a run can be
 * measured against (slightly less: the driver keeps some back, more with ECC on). It is filled only
 * where a real nvidia-smi listing was seen, and the listing named in `sources`.
 */

const T = 1e12;
const GB = 1e9;
const GiB = 2 ** 30;
const MiB = 2 ** 20;

export interface GpuPeakFlops {
  /** CUDA-core FP32, FLOP/s. */
  fp32: number;
  /** Dense tensor-core TF32, FLOP/s. */
  tf32: number;
  /** Dense tensor-core FP16 with FP32 accumulate, FLOP/s. */
  fp16: number;
  /** Dense tensor-core BF16 (FP32 accumulate), FLOP/s. */
  bf16: number;
}

export interface GpuEntry {
  /** Catalog id used on the command line, e.g. `rtx-4060`, `h200`. */
  id: string;
  name: string;
  /** Exactly what `nvidia-smi --query-gpu=name` prints for this board. */
  smiNames: string[];
  /** Nominal capacity in bytes. */
  memoryBytes: number;
  /** memory.total as NVML reports it, where a real listing was seen; else null. */
  nvmlTotalBytes: number | null;
  bandwidthBytesPerSecond: number;
  peakFlops: GpuPeakFlops;
  /** Total board power (GeForce) or maximum TDP (datacenter), watts. */
  boardPowerWatts: number;
  bf16Supported: boolean;
  computeCapability: string;
  architecture: "volta" | "turing" | "ampere" | "ada" | "hopper" | "blackwell";
  /** GeForce (half-rate FP32-accumulate tensor math) or datacenter. */
  segment: "geforce" | "datacenter";
  sources: string[];
}

const AMPERE_WP = "NVIDIA Ampere GA102 GPU Architecture whitepaper (appendix A, RTX 3090)";
const ADA_WP = "NVIDIA Ada GPU Architecture whitepaper (appendix, GeForce RTX 40 series tables)";
const BLACKWELL_WP = "NVIDIA RTX Blackwell GPU Architecture whitepaper (GB202, RTX 5090)";
const GEFORCE_HALF_RATE =
  "FP16/BF16 with FP32 accumulate = half the FP16-accumulate tensor rate (GeForce), as in the whitepaper tables";
const SMI_SEEN = "nvidia-smi listings seen in public logs (memory.total)";

/** Peak rates derived from SM count × boost clock × per-SM dense throughput of GA10x/AD10x SMs. */
function geforceRates(sms: number, boostGHz: number, cudaCores: number): GpuPeakFlops {
  // Per SM per clock: 128 FP32 FMA (256 FLOP); tensor FP16-accumulate 512 FMA (1024 FLOP) dense;
  // FP32-accumulate half of that; TF32 a quarter of FP16-accumulate.
  const fp16Acc16 = sms * 1024 * boostGHz * 1e9;
  return {
    fp32: cudaCores * 2 * boostGHz * 1e9,
    tf32: fp16Acc16 / 4,
    fp16: fp16Acc16 / 2,
    bf16: fp16Acc16 / 2,
  };
}

export const GPUS: readonly GpuEntry[] = [
  {
    id: "rtx-3060",
    name: "NVIDIA GeForce RTX 3060 12GB",
    smiNames: ["NVIDIA GeForce RTX 3060"],
    memoryBytes: 12 * GiB,
    nvmlTotalBytes: null,
    bandwidthBytesPerSecond: 360 * GB,
    // GA106: 28 SMs, 3584 CUDA cores, 1.777 GHz boost. Not in the GA102 whitepaper's tables; the
    // rates are computed from the GA10x per-SM throughput the whitepaper gives (unverified here
    // against an NVIDIA table).
    peakFlops: geforceRates(28, 1.777, 3584),
    boardPowerWatts: 170,
    bf16Supported: true,
    computeCapability: "8.6",
    architecture: "ampere",
    segment: "geforce",
    sources: [
      "NVIDIA GeForce RTX 3060 product specifications (3584 CUDA cores, 1.78 GHz boost, 12 GB 192-bit 15 Gbps, 170 W)",
      `${AMPERE_WP}: per-SM GA10x rates; ${GEFORCE_HALF_RATE}`,
      "tensor rates computed, not read from an NVIDIA table",
    ],
  },
  {
    id: "rtx-3090",
    name: "NVIDIA GeForce RTX 3090",
    smiNames: ["NVIDIA GeForce RTX 3090"],
    memoryBytes: 24 * GiB,
    nvmlTotalBytes: null,
    bandwidthBytesPerSecond: 936 * GB,
    // Whitepaper: FP32 35.6; FP16 tensor FP16-acc 142 / FP32-acc 71; BF16 71; TF32 35.6 (dense).
    peakFlops: { fp32: 35.6 * T, tf32: 35.6 * T, fp16: 71 * T, bf16: 71 * T },
    boardPowerWatts: 350,
    bf16Supported: true,
    computeCapability: "8.6",
    architecture: "ampere",
    segment: "geforce",
    sources: [AMPERE_WP, GEFORCE_HALF_RATE],
  },
  {
    id: "rtx-4060",
    name: "NVIDIA GeForce RTX 4060",
    smiNames: ["NVIDIA GeForce RTX 4060"],
    memoryBytes: 8 * GiB,
    nvmlTotalBytes: 8188 * MiB,
    bandwidthBytesPerSecond: 272 * GB,
    // AD107: 24 SMs, 3072 CUDA cores, 2.46 GHz boost → FP32 15.1, FP16-acc 60.5, FP32-acc 30.2.
    peakFlops: geforceRates(24, 2.46, 3072),
    boardPowerWatts: 115,
    bf16Supported: true,
    computeCapability: "8.9",
    architecture: "ada",
    segment: "geforce",
    sources: [
      "NVIDIA GeForce RTX 4060 product specifications (3072 CUDA cores, 2.46 GHz boost, 8 GB 128-bit 17 Gbps, 115 W)",
      `${ADA_WP}: per-SM AD10x rates; ${GEFORCE_HALF_RATE}`,
      "cross-checked: third-party spec tables list 60.46 TFLOPS FP16-acc / 30.23 FP32-acc dense",
      `${SMI_SEEN}: 8188 MiB`,
    ],
  },
  {
    id: "rtx-4060-ti-8gb",
    name: "NVIDIA GeForce RTX 4060 Ti 8GB",
    smiNames: ["NVIDIA GeForce RTX 4060 Ti"],
    memoryBytes: 8 * GiB,
    nvmlTotalBytes: 8188 * MiB,
    bandwidthBytesPerSecond: 288 * GB,
    peakFlops: geforceRates(34, 2.535, 4352),
    boardPowerWatts: 160,
    bf16Supported: true,
    computeCapability: "8.9",
    architecture: "ada",
    segment: "geforce",
    sources: [
      "NVIDIA GeForce RTX 4060 Ti product specifications (4352 CUDA cores, 2.535 GHz boost, 128-bit 18 Gbps, 160 W)",
      `${ADA_WP}: per-SM AD10x rates; ${GEFORCE_HALF_RATE}`,
      `${SMI_SEEN}: 8188 MiB`,
    ],
  },
  {
    id: "rtx-4060-ti-16gb",
    name: "NVIDIA GeForce RTX 4060 Ti 16GB",
    smiNames: ["NVIDIA GeForce RTX 4060 Ti"],
    memoryBytes: 16 * GiB,
    nvmlTotalBytes: 16379 * MiB,
    bandwidthBytesPerSecond: 288 * GB,
    peakFlops: geforceRates(34, 2.535, 4352),
    boardPowerWatts: 165,
    bf16Supported: true,
    computeCapability: "8.9",
    architecture: "ada",
    segment: "geforce",
    sources: [
      "NVIDIA GeForce RTX 4060 Ti 16GB product specifications (4352 CUDA cores, 2.535 GHz boost, 128-bit 18 Gbps, 165 W)",
      `${ADA_WP}: per-SM AD10x rates; ${GEFORCE_HALF_RATE}`,
      "CUDA device listing seen in public logs: 16379 MiB",
    ],
  },
  {
    id: "rtx-4070",
    name: "NVIDIA GeForce RTX 4070",
    smiNames: ["NVIDIA GeForce RTX 4070"],
    memoryBytes: 12 * GiB,
    nvmlTotalBytes: null,
    bandwidthBytesPerSecond: 504 * GB,
    peakFlops: geforceRates(46, 2.475, 5888),
    boardPowerWatts: 200,
    bf16Supported: true,
    computeCapability: "8.9",
    architecture: "ada",
    segment: "geforce",
    sources: [
      "NVIDIA GeForce RTX 4070 product specifications (5888 CUDA cores, 2.475 GHz boost, 12 GB 192-bit 21 Gbps, 200 W)",
      `${ADA_WP}: per-SM AD10x rates; ${GEFORCE_HALF_RATE}`,
    ],
  },
  {
    id: "rtx-4080",
    name: "NVIDIA GeForce RTX 4080",
    smiNames: ["NVIDIA GeForce RTX 4080"],
    memoryBytes: 16 * GiB,
    nvmlTotalBytes: null,
    bandwidthBytesPerSecond: 716.8 * GB,
    // Whitepaper: FP32 48.7; FP16 tensor FP16-acc 194.9 / FP32-acc 97.5; BF16 97.5; TF32 48.7.
    peakFlops: { fp32: 48.7 * T, tf32: 48.7 * T, fp16: 97.5 * T, bf16: 97.5 * T },
    boardPowerWatts: 320,
    bf16Supported: true,
    computeCapability: "8.9",
    architecture: "ada",
    segment: "geforce",
    sources: [ADA_WP, GEFORCE_HALF_RATE],
  },
  {
    id: "rtx-4090",
    name: "NVIDIA GeForce RTX 4090",
    smiNames: ["NVIDIA GeForce RTX 4090"],
    memoryBytes: 24 * GiB,
    nvmlTotalBytes: null,
    bandwidthBytesPerSecond: 1008 * GB,
    // Whitepaper: FP32 82.6; FP16 tensor FP16-acc 330.3 / FP32-acc 165.2; BF16 165.2; TF32 82.6.
    peakFlops: { fp32: 82.6 * T, tf32: 82.6 * T, fp16: 165.2 * T, bf16: 165.2 * T },
    boardPowerWatts: 450,
    bf16Supported: true,
    computeCapability: "8.9",
    architecture: "ada",
    segment: "geforce",
    sources: [ADA_WP, GEFORCE_HALF_RATE],
  },
  {
    id: "rtx-5090",
    name: "NVIDIA GeForce RTX 5090",
    smiNames: ["NVIDIA GeForce RTX 5090"],
    memoryBytes: 32 * GiB,
    nvmlTotalBytes: null,
    bandwidthBytesPerSecond: 1792 * GB,
    // GB202 (170 SMs, 21760 cores, 2.407 GHz): FP32 104.8, FP16 tensor FP16-acc 419 dense (838
    // sparse, the headline figure). FP32-accumulate taken as half of that (209.5), the GeForce rule;
    // the Blackwell whitepaper's FP32-accumulate row could not be checked from here.
    peakFlops: { fp32: 104.8 * T, tf32: 104.8 * T, fp16: 209.5 * T, bf16: 209.5 * T },
    boardPowerWatts: 575,
    bf16Supported: true,
    computeCapability: "12.0",
    architecture: "blackwell",
    segment: "geforce",
    sources: [
      BLACKWELL_WP,
      "FP32-accumulate / BF16 rate assumed half of FP16-accumulate (GeForce rule); not verified against the whitepaper text",
    ],
  },
  {
    id: "a10",
    name: "NVIDIA A10",
    smiNames: ["NVIDIA A10"],
    memoryBytes: 24 * GiB,
    nvmlTotalBytes: 23028 * MiB,
    bandwidthBytesPerSecond: 600 * GB,
    // Datasheet: FP32 31.2; TF32 62.5 (125 sparse); BF16/FP16 125 (250 sparse).
    peakFlops: { fp32: 31.2 * T, tf32: 62.5 * T, fp16: 125 * T, bf16: 125 * T },
    boardPowerWatts: 150,
    bf16Supported: true,
    computeCapability: "8.6",
    architecture: "ampere",
    segment: "datacenter",
    sources: [
      "NVIDIA A10 Tensor Core GPU datasheet",
      `${SMI_SEEN}: 23028 MiB with ECC on (driver-dependent)`,
    ],
  },
  {
    id: "l4",
    name: "NVIDIA L4",
    smiNames: ["NVIDIA L4"],
    memoryBytes: 24 * GiB,
    nvmlTotalBytes: null,
    bandwidthBytesPerSecond: 300 * GB,
    // Datasheet: FP32 30.3; TF32 120 sparse; BF16/FP16 242 sparse.
    peakFlops: { fp32: 30.3 * T, tf32: 60 * T, fp16: 121 * T, bf16: 121 * T },
    boardPowerWatts: 72,
    bf16Supported: true,
    computeCapability: "8.9",
    architecture: "ada",
    segment: "datacenter",
    sources: ["NVIDIA L4 Tensor Core GPU datasheet (sparse figures halved)"],
  },
  {
    id: "l40s",
    name: "NVIDIA L40S",
    smiNames: ["NVIDIA L40S"],
    memoryBytes: 48 * GiB,
    nvmlTotalBytes: 46068 * MiB,
    bandwidthBytesPerSecond: 864 * GB,
    // Datasheet: FP32 91.6; TF32 183 (366 sparse); BF16/FP16 362.05 (733 sparse).
    peakFlops: { fp32: 91.6 * T, tf32: 183 * T, fp16: 362.05 * T, bf16: 362.05 * T },
    boardPowerWatts: 350,
    bf16Supported: true,
    computeCapability: "8.9",
    architecture: "ada",
    segment: "datacenter",
    sources: ["NVIDIA L40S GPU datasheet", `${SMI_SEEN}: 46068 MiB with ECC on`],
  },
  {
    id: "a100-40gb",
    name: "NVIDIA A100 40GB SXM4",
    smiNames: ["NVIDIA A100-SXM4-40GB"],
    memoryBytes: 40 * GiB,
    nvmlTotalBytes: null,
    bandwidthBytesPerSecond: 1555 * GB,
    peakFlops: { fp32: 19.5 * T, tf32: 156 * T, fp16: 312 * T, bf16: 312 * T },
    boardPowerWatts: 400,
    bf16Supported: true,
    computeCapability: "8.0",
    architecture: "ampere",
    segment: "datacenter",
    sources: ["NVIDIA A100 Tensor Core GPU datasheet (40GB SXM column)"],
  },
  {
    id: "a100-40gb-pcie",
    name: "NVIDIA A100 40GB PCIe",
    smiNames: ["NVIDIA A100-PCIE-40GB"],
    memoryBytes: 40 * GiB,
    nvmlTotalBytes: null,
    bandwidthBytesPerSecond: 1555 * GB,
    peakFlops: { fp32: 19.5 * T, tf32: 156 * T, fp16: 312 * T, bf16: 312 * T },
    boardPowerWatts: 250,
    bf16Supported: true,
    computeCapability: "8.0",
    architecture: "ampere",
    segment: "datacenter",
    sources: ["NVIDIA A100 Tensor Core GPU datasheet (40GB PCIe column)"],
  },
  {
    id: "a100-80gb",
    name: "NVIDIA A100 80GB SXM4",
    smiNames: ["NVIDIA A100-SXM4-80GB"],
    memoryBytes: 80 * GiB,
    nvmlTotalBytes: 81920 * MiB,
    bandwidthBytesPerSecond: 2039 * GB,
    peakFlops: { fp32: 19.5 * T, tf32: 156 * T, fp16: 312 * T, bf16: 312 * T },
    boardPowerWatts: 400,
    bf16Supported: true,
    computeCapability: "8.0",
    architecture: "ampere",
    segment: "datacenter",
    sources: ["NVIDIA A100 Tensor Core GPU datasheet (80GB SXM column)", `${SMI_SEEN}: 81920 MiB`],
  },
  {
    id: "a100-80gb-pcie",
    name: "NVIDIA A100 80GB PCIe",
    smiNames: ["NVIDIA A100 80GB PCIe"],
    memoryBytes: 80 * GiB,
    nvmlTotalBytes: null,
    bandwidthBytesPerSecond: 1935 * GB,
    peakFlops: { fp32: 19.5 * T, tf32: 156 * T, fp16: 312 * T, bf16: 312 * T },
    boardPowerWatts: 300,
    bf16Supported: true,
    computeCapability: "8.0",
    architecture: "ampere",
    segment: "datacenter",
    sources: ["NVIDIA A100 Tensor Core GPU datasheet (80GB PCIe column)"],
  },
  {
    id: "h100-sxm",
    name: "NVIDIA H100 SXM 80GB",
    smiNames: ["NVIDIA H100 80GB HBM3"],
    memoryBytes: 80 * GiB,
    nvmlTotalBytes: 81559 * MiB,
    bandwidthBytesPerSecond: 3350 * GB,
    // Datasheet: FP32 67; TF32 989 sparse; BF16/FP16 1979 sparse.
    peakFlops: { fp32: 67 * T, tf32: 494.5 * T, fp16: 989.5 * T, bf16: 989.5 * T },
    boardPowerWatts: 700,
    bf16Supported: true,
    computeCapability: "9.0",
    architecture: "hopper",
    segment: "datacenter",
    sources: [
      "NVIDIA H100 Tensor Core GPU datasheet (H100 SXM column, sparse figures halved)",
      `${SMI_SEEN}: 81559 MiB`,
    ],
  },
  {
    id: "h100-pcie",
    name: "NVIDIA H100 PCIe 80GB",
    smiNames: ["NVIDIA H100 PCIe"],
    memoryBytes: 80 * GiB,
    nvmlTotalBytes: null,
    bandwidthBytesPerSecond: 2000 * GB,
    // Datasheet (PCIe column): FP32 51; TF32 756 sparse; BF16/FP16 1513 sparse; 300-350 W.
    peakFlops: { fp32: 51 * T, tf32: 378 * T, fp16: 756.5 * T, bf16: 756.5 * T },
    boardPowerWatts: 350,
    bf16Supported: true,
    computeCapability: "9.0",
    architecture: "hopper",
    segment: "datacenter",
    sources: ["NVIDIA H100 Tensor Core GPU datasheet (H100 PCIe column, sparse figures halved)"],
  },
  {
    id: "h200",
    name: "NVIDIA H200 SXM 141GB",
    smiNames: ["NVIDIA H200"],
    // Marketed as "141 GB"; NVML's total (143771 MiB ≈ 140.4 GiB) shows the binary reading is meant.
    memoryBytes: 141 * GiB,
    nvmlTotalBytes: 143771 * MiB,
    bandwidthBytesPerSecond: 4800 * GB,
    // Same GH100 compute as H100 SXM: FP32 67; TF32 989 sparse; BF16/FP16 1979 sparse.
    peakFlops: { fp32: 67 * T, tf32: 494.5 * T, fp16: 989.5 * T, bf16: 989.5 * T },
    boardPowerWatts: 700,
    bf16Supported: true,
    computeCapability: "9.0",
    architecture: "hopper",
    segment: "datacenter",
    sources: [
      "NVIDIA H200 Tensor Core GPU datasheet (H200 SXM column, sparse figures halved)",
      `${SMI_SEEN}: 143771 MiB`,
    ],
  },
  {
    id: "rtx-3080",
    name: "NVIDIA GeForce RTX 3080",
    smiNames: ["NVIDIA GeForce RTX 3080"],
    memoryBytes: 10 * GiB,
    nvmlTotalBytes: null,
    bandwidthBytesPerSecond: 760 * GB,
    // Whitepaper: 68 SMs, 8704 CUDA cores, 1.71 GHz boost; FP32 29.8; FP16 tensor FP32-acc 59.5.
    peakFlops: geforceRates(68, 1.71, 8704),
    boardPowerWatts: 320,
    bf16Supported: true,
    computeCapability: "8.6",
    architecture: "ampere",
    segment: "geforce",
    sources: [
      `${AMPERE_WP}: RTX 3080 10 GB column (68 SMs, 1710 MHz boost, 760 GB/s GDDR6X, 320 W)`,
      GEFORCE_HALF_RATE,
    ],
  },
  {
    id: "rtx-a6000",
    name: "NVIDIA RTX A6000",
    smiNames: ["NVIDIA RTX A6000"],
    memoryBytes: 48 * GiB,
    nvmlTotalBytes: null,
    bandwidthBytesPerSecond: 768 * GB,
    // Datasheet: FP32 38.7; tensor 309.7 with sparsity → 154.8 dense. A professional GA102 board
    // runs FP32-accumulate at the full rate (as the A40, the same chip, lists BF16 with FP32
    // accumulate equal to FP16); TF32 half of that, as on the A40.
    peakFlops: { fp32: 38.7 * T, tf32: 77.4 * T, fp16: 154.8 * T, bf16: 154.8 * T },
    boardPowerWatts: 300,
    bf16Supported: true,
    computeCapability: "8.6",
    architecture: "ampere",
    segment: "datacenter",
    sources: [
      "NVIDIA RTX A6000 datasheet (10752 CUDA cores, 38.7 TFLOPS FP32, 309.7 TFLOPS tensor with sparsity, 48 GB GDDR6 768 GB/s, 300 W)",
      "NVIDIA A40 datasheet (same GA102 chip): BF16/FP16 with FP32 accumulate at the full tensor rate, TF32 at half",
    ],
  },
  {
    id: "a10g",
    name: "NVIDIA A10G",
    smiNames: ["NVIDIA A10G"],
    memoryBytes: 24 * GiB,
    nvmlTotalBytes: null,
    bandwidthBytesPerSecond: 600 * GB,
    // AWS's variant of the A10 (EC2 G5); NVIDIA publishes no datasheet. Same memory and bandwidth
    // as the A10, more CUDA-core and less tensor throughput: FP32 31.52, FP16/BF16 tensor 70
    // (dense), TF32 35 (half of that, the GA10x ratio).
    peakFlops: { fp32: 31.52 * T, tf32: 35 * T, fp16: 70 * T, bf16: 70 * T },
    boardPowerWatts: 300,
    bf16Supported: true,
    computeCapability: "8.6",
    architecture: "ampere",
    segment: "datacenter",
    sources: [
      "https://www.baseten.co/blog/nvidia-a10-vs-a10g-for-ml-model-inference/ (24 GB GDDR6, 600 GB/s; A10G tensor and FP32 figures)",
      "no NVIDIA datasheet exists; board power and TF32 unverified",
    ],
  },
  {
    id: "t4",
    name: "NVIDIA T4",
    smiNames: ["Tesla T4"],
    memoryBytes: 16 * GiB,
    nvmlTotalBytes: null,
    bandwidthBytesPerSecond: 320 * GB,
    // Datasheet: FP32 8.1; mixed precision (FP16 with FP32 accumulate) 65. No TF32, no BF16.
    peakFlops: { fp32: 8.1 * T, tf32: 8.1 * T, fp16: 65 * T, bf16: 8.1 * T },
    boardPowerWatts: 70,
    bf16Supported: false,
    computeCapability: "7.5",
    architecture: "turing",
    segment: "datacenter",
    sources: [
      "NVIDIA T4 Tensor Core GPU datasheet (8.1 TFLOPS FP32, 65 TFLOPS FP16/FP32 mixed precision, 16 GB GDDR6 320 GB/s, 70 W)",
    ],
  },
  ...(
    [
      [16, "Tesla V100-SXM2-16GB"],
      [32, "Tesla V100-SXM2-32GB"],
    ] as const
  ).map(([gb, smi]): GpuEntry => ({
    id: `v100-${gb}gb`,
    name: `NVIDIA V100 SXM2 ${gb}GB`,
    smiNames: [smi],
    memoryBytes: gb * GiB,
    nvmlTotalBytes: null,
    bandwidthBytesPerSecond: 900 * GB,
    // Datasheet (SXM2): FP32 15.7; tensor (FP16 with FP32 accumulate) 125. No TF32, no BF16.
    peakFlops: { fp32: 15.7 * T, tf32: 15.7 * T, fp16: 125 * T, bf16: 15.7 * T },
    boardPowerWatts: 300,
    bf16Supported: false,
    computeCapability: "7.0",
    architecture: "volta",
    segment: "datacenter",
    sources: [
      "NVIDIA Tesla V100 datasheet, SXM2 column (15.7 TFLOPS FP32, 125 TFLOPS tensor, 16/32 GB HBM2 900 GB/s, 300 W)",
    ],
  })),
];

const normalize = (s: string) => s.trim().toLowerCase().replace(/\s+/g, " ");

/**
 * Finds a GPU by catalog id, display name or nvidia-smi name (case-insensitive). Where one smi name
 * covers several boards (the RTX 4060 Ti comes with 8 or 16 GB), `totalMemoryBytes` (NVML's
 * memory.total) picks the closest; without it the first listed wins.
 */
export function findGpu(nameOrId: string, totalMemoryBytes?: number | null): GpuEntry | undefined {
  const key = normalize(nameOrId);
  const byId = GPUS.find((g) => g.id === key || normalize(g.name) === key);
  if (byId) return byId;
  const matches = GPUS.filter((g) => g.smiNames.some((s) => normalize(s) === key));
  if (matches.length <= 1 || totalMemoryBytes == null) return matches[0];
  const distance = (g: GpuEntry) => Math.abs((g.nvmlTotalBytes ?? g.memoryBytes) - totalMemoryBytes);
  return [...matches].sort((a, b) => distance(a) - distance(b))[0];
}

/** The memory a run on this GPU is measured against: NVML's total where known, else nominal. */
export function usableMemoryBytes(gpu: GpuEntry): number {
  return gpu.nvmlTotalBytes ?? gpu.memoryBytes;
}
