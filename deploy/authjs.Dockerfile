# The sample Auth.js app (samples/authjs-app). The build context is the repository root (see
# .dockerignore), so the host's node_modules never reach the image.

FROM node:20-slim
ENV NODE_ENV=production
# The repository's layout, so that the app's import of ../../clients/authjs resolves as it does in a checkout.
WORKDIR /app/samples/authjs-app
# Dependencies first, from the committed lock file only: a change to server.mjs reuses this layer.
COPY samples/authjs-app/package.json samples/authjs-app/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force
COPY clients/authjs/index.mjs /app/clients/authjs/index.mjs
COPY samples/authjs-app/auth-callbacks.mjs /app/samples/authjs-app/auth-callbacks.mjs
COPY samples/authjs-app/server.mjs ./
USER node
# Inside a container the app must listen beyond loopback to be reachable.
ENV HOST=0.0.0.0 PORT=3000
EXPOSE 3000
CMD ["node", "server.mjs"]
