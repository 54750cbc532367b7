"""Template projects and their versions: what a message's `template.projectId` and `template.version` name."""

from __future__ import annotations

from fastapi import Path, Response

from roost.api.bird.auth import WorkspaceDep
from roost.api.bird.routing import BAD_BODY, bird_router
from roost.api.bird.template_schemas import (
    ProjectIn,
    ProjectListOut,
    ProjectOut,
    ProjectPatch,
    RenderedOut,
    RenderIn,
    VersionIn,
    VersionListOut,
    VersionOut,
)
from roost.api.deps import SessionDep
from roost.template import service as template_service

router = bird_router("templates")
ProjectId = Path(max_length=64, description="The template project's UUID.")
VersionId = Path(max_length=64, description="The version's UUID.")


@router.get("/projects", response_model=ProjectListOut, summary="List the workspace's template projects")
async def list_projects(session: SessionDep, principal: WorkspaceDep) -> ProjectListOut:
    projects = await template_service.list_projects(session, account_id=principal.account_id)
    return ProjectListOut(results=[ProjectOut.of(project) for project in projects])


@router.post(
    "/projects", status_code=201, response_model=ProjectOut, responses=BAD_BODY, summary="Create a template project"
)
async def create_project(body: ProjectIn, session: SessionDep, principal: WorkspaceDep) -> ProjectOut:
    project = await template_service.create_project(session, account_id=principal.account_id, name=body.name)
    return ProjectOut.of(project)


@router.get("/projects/{project_id}", response_model=ProjectOut, summary="Get a template project")
async def get_project(session: SessionDep, principal: WorkspaceDep, project_id: str = ProjectId) -> ProjectOut:
    project = await template_service.get_project(session, account_id=principal.account_id, project_id=project_id)
    return ProjectOut.of(project)


@router.patch(
    "/projects/{project_id}", response_model=ProjectOut, responses=BAD_BODY, summary="Rename a template project"
)
async def update_project(
    body: ProjectPatch, session: SessionDep, principal: WorkspaceDep, project_id: str = ProjectId
) -> ProjectOut:
    project = await template_service.update_project(
        session, account_id=principal.account_id, project_id=project_id, name=body.name
    )
    return ProjectOut.of(project)


@router.delete(
    "/projects/{project_id}",
    status_code=204,
    summary="Delete a template project and its versions (messages already accepted keep their content)",
)
async def delete_project(session: SessionDep, principal: WorkspaceDep, project_id: str = ProjectId) -> Response:
    await template_service.delete_project(session, account_id=principal.account_id, project_id=project_id)
    return Response(status_code=204)


@router.post(
    "/projects/{project_id}/versions",
    status_code=201,
    response_model=VersionOut,
    responses=BAD_BODY,
    summary="Publish the project's next version (immutable once made)",
)
async def publish_version(
    body: VersionIn, session: SessionDep, principal: WorkspaceDep, project_id: str = ProjectId
) -> VersionOut:
    version = await template_service.publish(
        session,
        account_id=principal.account_id,
        project_id=project_id,
        default_locale=body.default_locale,
        contents=body.locale_contents(),
        variables=body.variable_specs(),
    )
    return VersionOut.of(version)


@router.get(
    "/projects/{project_id}/versions", response_model=VersionListOut, summary="List a project's versions, newest first"
)
async def list_versions(session: SessionDep, principal: WorkspaceDep, project_id: str = ProjectId) -> VersionListOut:
    versions = await template_service.list_versions(session, account_id=principal.account_id, project_id=project_id)
    return VersionListOut(results=[VersionOut.of(version) for version in versions])


@router.get("/projects/{project_id}/versions/{version_id}", response_model=VersionOut, summary="Get a version")
async def get_version(
    session: SessionDep, principal: WorkspaceDep, project_id: str = ProjectId, version_id: str = VersionId
) -> VersionOut:
    version = await template_service.get_version(
        session, account_id=principal.account_id, project_id=project_id, version_id=version_id
    )
    return VersionOut.of(version)


@router.post(
    "/projects/{project_id}/versions/{version_id}/render",
    response_model=RenderedOut,
    responses=BAD_BODY,
    summary="Preview a version rendered with variables, as a message would send it",
)
async def render_version(
    body: RenderIn,
    session: SessionDep,
    principal: WorkspaceDep,
    project_id: str = ProjectId,
    version_id: str = VersionId,
) -> RenderedOut:
    rendered = await template_service.preview(
        session,
        account_id=principal.account_id,
        project_id=project_id,
        version_id=version_id,
        locale=body.locale,
        variables=body.values(),
    )
    return RenderedOut.of(rendered)
