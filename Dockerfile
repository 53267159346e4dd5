# The kit on a GPU: tfjs-node-gpu (libtensorflow 2.9.1, CUDA 11.x + cuDNN 8),
# Node 20, Jupyter with the tslab kernel, starting Jupyter on notebooks/.
#   docker build -t t2i-align-gpu .
#   docker run --gpus all -p 8888:8888 t2i-align-gpu
# tfjs-node-gpu 4.x does not work with CUDA 12 libraries, nor on Node >= 23.
FROM nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends \
      ca-certificates curl gnupg g++ make python3 python3-pip libopenblas-dev \
    && mkdir -p /etc/apt/keyrings \
    && curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key | gpg --dearmor -o /etc/apt/keyrings/nodesource.gpg \
    && echo "deb [signed-by=/etc/apt/keyrings/nodesource.gpg] https://deb.nodesource.com/node_20.x nodistro main" > /etc/apt/sources.list.d/nodesource.list \
    && apt-get update && apt-get install -y --no-install-recommends nodejs \
    && pip3 install --no-cache-dir notebook nbconvert nbclient ipykernel \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/t2i-align
COPY . .
# The kit (its install builds dist/ and, with g++ and OpenBLAS present, the
# native kernels), then tfjs-node-gpu, whose install script downloads
# libtensorflow for the GPU, then the tslab kernel for Jupyter (by absolute
# paths, as `npm run notebooks` registers it).
RUN npm install --no-audit --no-fund \
    && npm install --no-audit --no-fund --no-save @tensorflow/tfjs-node-gpu@4.22.0 \
    && node scripts/notebooks.js --register \
    && T2I_BACKEND=tensorflow node bin/t2i-align.js info   # fails the build if tfjs-node-gpu cannot load (auto would fall back to wasm and pass)

ENV T2I_BACKEND=tensorflow
# Each process takes the GPU memory it needs, not all of it at start (a sweep's workers, a notebook beside a CLI run).
ENV TF_FORCE_GPU_ALLOW_GROWTH=true
EXPOSE 8888
CMD ["python3", "-m", "notebook", "--ip=0.0.0.0", "--port=8888", "--allow-root", "--no-browser", "--notebook-dir=/opt/t2i-align/notebooks"]
