# One image per .NET entry point of the repository: the standalone silo, or a web app that
# co-hosts a silo. docker-compose.yml passes the project and its assembly name:
#
#   docker build -f deploy/dotnet.Dockerfile \
#     --build-arg PROJECT=src/Silo/SessionCache.Silo.csproj --build-arg ASSEMBLY=SessionCache.Silo .
#
# The build context is the repository root (see .dockerignore).

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG PROJECT=src/Silo/SessionCache.Silo.csproj
ARG ASSEMBLY=SessionCache.Silo
WORKDIR /repo
# The build is defined at the root as much as in the project files: central package versions,
# the shared properties (warnings as errors, analyzers), the SDK pin and the code style the
# analyzers enforce. Without them the image would build something other than CI tests.
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/ src/
COPY samples/WebApp/ samples/WebApp/
RUN dotnet restore "$PROJECT"
RUN dotnet publish "$PROJECT" --no-restore -c Release -o /app -p:UseAppHost=false
# The entry point runs $ASSEMBLY.dll: a mismatched pair of build args fails here, not at start.
RUN test -f "/app/$ASSEMBLY.dll" \
 || { echo "ASSEMBLY=$ASSEMBLY is not the assembly $PROJECT publishes; /app holds:" >&2; ls /app >&2; exit 1; }

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
# The compose healthcheck calls /health/ready with curl, which the aspnet image lacks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/*
ARG ASSEMBLY=SessionCache.Silo
ENV ASSEMBLY=$ASSEMBLY
WORKDIR /app
COPY --from=build /app ./
# The image's unprivileged user; a silo needs no root.
USER $APP_UID
# HTTP (endpoints, health, dashboard), silo-to-silo, gateway.
EXPOSE 8080 11111 30000
# A shell only to pick the assembly; exec hands PID 1 to dotnet, so SIGTERM reaches the host and
# the silo leaves the cluster gracefully.
ENTRYPOINT ["/bin/sh", "-c", "exec dotnet \"/app/${ASSEMBLY}.dll\" \"$@\"", "--"]
