# karpenter-effect: `docker build -t karpenter-effect:0.1.0 .` (the tag manifests/base/kustomization.yaml deploys).

# Build: every dependency, then tsc → dist/.
FROM node:22-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json bin.ts ./
COPY src ./src
COPY layers ./layers
COPY bench ./bench
RUN npm run build

# Runtime: production dependencies, the compiled code and the manifests; nothing runs as root.
FROM node:22-slim AS runtime
ENV NODE_ENV=production
# Read when the process starts, so set here: two malloc arenas, 2 MB semi-spaces (ControllerApp.processEnvironment).
ENV MALLOC_ARENA_MAX=2 NODE_OPTIONS=--max-semi-space-size=2
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /src/dist ./dist
# The AWS provider reads upstream's generated limits and the bundled prices beside its code (AwsOperator.datasetPath).
COPY data/aws-instance-types.json ./dist/data/
COPY manifests ./manifests
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["node", "/app/dist/bin.js"]
CMD ["controller"]
